"""Helpers of the batch tests: a real `dask scheduler` with `dask worker` processes on 127.0.0.1, and a
set of recordings of different programs made with the simulator and with `perf record`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "corpus" / "bin"
UNWIND = [sys.executable, "-m", "unwind"]
DASK = str(Path(sys.executable).with_name("dask"))
# 22 different programs (program x libc x frame-pointer flavour): each its own binary and build-id
SIMULATED = [f"{name}-{flavour}" for name in ("deeprec", "exceptions", "frames", "interp", "libcalls", "nonlocal",
                                             "pool", "recursion", "siginfo", "sysprobe", "threads")
             for flavour in ("glibc-dynamic-O2-fp", "glibc-dynamic-O2-nofp")]
BURN_C = r"""
#include <stdlib.h>
static volatile unsigned long sink;
__attribute__((noinline)) static unsigned long mix(unsigned long x) { for (int i = 0; i < 64; i++) x = x * 6364136223846793005UL + 1442695040888963407UL; return x; }
__attribute__((noinline)) static unsigned long inner(unsigned long x) { return mix(x) ^ mix(x + 1); }
__attribute__((noinline)) static unsigned long outer(unsigned long x) { return inner(x) + inner(x * 3); }
int main(int argc, char **argv) { unsigned long n = argc > 1 ? strtoul(argv[1], 0, 10) : 300000;
  for (unsigned long i = 0; i < n; i++) sink += (i & 1) ? outer(i) : inner(i); return 0; }
"""


def run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]


def make_recordings(directory: Path) -> list[Path]:
    """22 simulated recordings of different corpus programs and 3 real `perf record` ones."""
    directory.mkdir(parents=True, exist_ok=True)
    jobs = [[*UNWIND, "simulate", str(BIN / name), "--period", "1000", "--max-samples", "60", "--seed", "7",
             "-o", str(directory / f"{name}.perf.data")] for name in SIMULATED]
    burn = directory / "burn"
    run(["gcc", "-O1", "-g", "-fno-omit-frame-pointer", "-o", str(burn), "-x", "c", "-"], input=BURN_C)
    perf = ["perf", "record", "-q", "-e", "cpu-clock", "-F", "2000"]
    jobs += [[*perf, "-g", "-o", str(directory / "burn-fp.perf.data"), str(burn)],
             [*perf, "--call-graph", "dwarf,8192", "-o", str(directory / "burn-dwarf.perf.data"), str(burn)],
             [*perf, "--call-graph", "dwarf,8192", "-o", str(directory / "gzip-dwarf.perf.data"), "sh", "-c",
              f"cat {BIN}/* | head -c 400000 | gzip -9 > /dev/null"]]
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda argv: run(argv, cwd=directory), jobs))
    return sorted(directory.glob("*.perf.data"))


def folded_sum(paths: list[Path], env: dict[str, str]) -> Counter[str]:
    """The single-file `unwind perf --format folded` outputs of every path, summed line by line."""
    def one(path: Path) -> str:
        return run([*UNWIND, "perf", str(path), "--format", "folded"], env=env).stdout

    total: Counter[str] = Counter()
    with ThreadPoolExecutor(2) as pool:
        for text in pool.map(one, paths):
            total.update(parse_folded(text))
    return total


def parse_folded(text: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        counts[stack] += int(count)
    return counts


class Cluster:
    """A running scheduler and its worker processes (killable one by one)."""

    def __init__(self, address: str, scheduler: subprocess.Popen[bytes], workers: list[subprocess.Popen[bytes]]):
        self.address = address
        self.scheduler = scheduler
        self.workers = workers


@contextmanager
def dask_cluster(directory: Path, workers: int = 2) -> Iterator[Cluster]:
    """`dask scheduler` on a free port of 127.0.0.1 and `workers` `dask worker` processes (one thread
    each, no nanny: a killed worker stays dead), all torn down afterwards."""
    import json

    directory.mkdir(parents=True, exist_ok=True)
    scheduler_file = directory / "scheduler.json"
    env = dict(os.environ, DASK_LOGGING__DISTRIBUTED="error")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                       "--scheduler-file", str(scheduler_file)], env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() or not scheduler_file.read_text().strip():
            assert time.monotonic() < deadline, "dask scheduler did not start"
            time.sleep(0.05)
        address = json.loads(scheduler_file.read_text())["address"]
        for i in range(workers):
            procs.append(subprocess.Popen([DASK, "worker", address, "--nthreads", "1", "--no-nanny",
                                           "--no-dashboard", "--host", "127.0.0.1", "--name", f"w{i}"],
                                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(workers, timeout=60)
        yield Cluster(address, procs[0], procs[1:])
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def need(tool: str) -> str:
    path = shutil.which(tool)
    assert path is not None, f"{tool} is not installed (run bash .ci/setup)"
    return path
