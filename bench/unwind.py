"""Frames per second per unwinder on a fixed snapshot set: the threads of gcore dumps of the parked test programs.

Builds tests/data/core/parked.c (fp / nofp / nocfi / objtool-ORC builds) and their cores into a temp dir,
then unwinds every thread of every core REPEAT times with each unwinder, after one warm-up
pass (so tables are parsed and caches filled, as in a long `unwind perf` run). Peers: eu-stack
and gdb on the same cores, whole process time per frame (they parse everything each run).

Usage: .venv/bin/python bench/unwind.py [--repeat N] [--unwinders fp,dwarf,orc,auto,scan] [--no-peers]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from unwind.core import load_core  # noqa: E402
from unwind.unwinders import get_unwinder  # noqa: E402

BUILDS = ("fp", "nofp", "nocfi", "orc")  # orc only when objtool (linux-kbuild-6.1) is installed


def bench_unwinder(name: str, processes, repeat: int) -> tuple[int, float, int]:
    """(frames, seconds, samples) for `repeat` passes over every thread of every core."""
    jobs = []
    for process in processes:
        unwinder = get_unwinder(name, resolver=process.resolver)
        takes_memory = name != "dwarf"
        for sample in process.samples:
            memory = process.memory_for(sample) if takes_memory else None
            jobs.append((unwinder, sample, memory))
    run = lambda u, s, m: u.unwind(s, memory=m) if m is not None else u.unwind(s)  # noqa: E731
    for job in jobs:  # warm-up: tables parsed, caches filled
        run(*job)
    frames = 0
    start = time.perf_counter()
    for _ in range(repeat):
        for job in jobs:
            frames += len(run(*job).frames)
    return frames, time.perf_counter() - start, len(jobs) * repeat


def bench_peer(argv_for, cores) -> tuple[int, float]:
    """(frames, seconds) of a peer tool run once per core; frames counted from its `#N` lines."""
    frames, seconds = 0, 0.0
    for exe, core in cores:
        start = time.perf_counter()
        out = subprocess.run(argv_for(exe, core), capture_output=True, text=True).stdout
        seconds += time.perf_counter() - start
        frames += sum(1 for line in out.splitlines() if line.startswith("#"))
    return frames, seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--unwinders", default="fp,dwarf,orc,auto")
    parser.add_argument("--no-peers", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="unwind-bench-") as tmp:
        subprocess.run(["sh", str(ROOT / "tests/data/core/build.sh"), tmp, "--cores"], check=True)
        cores = [(Path(tmp) / name, Path(tmp) / f"{name}.core") for name in BUILDS
                 if (Path(tmp) / f"{name}.core").exists()]
        processes = [load_core(str(core)) for _, core in cores]
        threads = sum(len(p.samples) for p in processes)
        print(f"snapshot set: {len(cores)} cores, {threads} threads, repeated {args.repeat}x (after one warm-up pass)")
        print(f"{'unwinder':10} {'frames':>8} {'samples':>8} {'frames/sample':>14} {'seconds':>8} {'frames/s':>10}")
        for name in args.unwinders.split(","):
            frames, seconds, samples = bench_unwinder(name, processes, args.repeat)
            rate = frames / seconds
            print(f"{name:10} {frames:8d} {samples:8d} {frames / samples:14.1f} {seconds:8.3f} {rate:10.0f}")
        if not args.no_peers:
            peers = {
                "eu-stack": lambda exe, core: ["eu-stack", "--core", str(core), "-e", str(exe)],
                "gdb": lambda exe, core: ["gdb", "-nx", "-batch", "-ex", "thread apply all bt", str(exe), str(core)],
            }
            print("peers (one process per core, start-up and parsing included):")
            for name, argv_for in peers.items():
                frames, seconds = bench_peer(argv_for, cores)
                print(f"{name:10} {frames:8d} {len(cores):8d} {'':14} {seconds:8.3f} {frames / seconds:10.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
