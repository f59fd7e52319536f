#!/usr/bin/env python3
"""Start-up of `unwind perf` on a tiny recording against `python -c pass`, three ways.

1. Instructions (valgrind --tool=callgrind, the process alone): independent of the machine's load,
   so the figure to compare across runs and trees.
2. Wall time, the two commands interleaved, medians, the load average printed (noisy on a busy machine).
3. `-X importtime` of a warm run: per module the smallest cumulative time over the runs, the modules
   costing at least --min-ms listed.

The recording is made here (perf record of a short python3.11 run at 80 Hz: one or two samples) unless
--perf-data is given; two first runs warm the index and CFI caches (in a temporary UNWIND_CACHE_DIR: the
first builds them, the second checks each index's CRC once and records it checked).
`--root DIR` times another checkout's sources (its unwind/ and formats/ first on PYTHONPATH), e.g. a
`git archive` of an older commit, with this interpreter.

Usage: .venv/bin/python bench/startup.py [--perf-data FILE] [--rounds 11] [--root DIR] [--no-valgrind]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN = "import sys; from unwind.cli import run_and_exit; sys.argv[0] = 'unwind'; run_and_exit()"


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f} (1 min) {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def tiny_recording(tmp: Path) -> Path:
    out = tmp / "tiny.perf.data"
    subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", "80", "--call-graph", "dwarf", "-o", str(out),
                    "--", "/usr/bin/python3.11", "-c", "sum(range(300000))"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return out


def instructions(argv: list[str], env: dict[str, str], tmp: Path) -> int | None:
    """Instructions the process executes (callgrind's total), None without valgrind."""
    if shutil.which("valgrind") is None:
        return None
    out = tmp / "callgrind.out"
    subprocess.run(["valgrind", "--tool=callgrind", "--trace-children=no", f"--callgrind-out-file={out}", *argv],
                   env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    found = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.M)
    return int(found.group(1)) if found else None


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, cwd=env["UNWIND_CACHE_DIR"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True)
    return time.perf_counter() - start


def importtimes(argv: list[str], env: dict[str, str], rounds: int) -> dict[str, float]:
    """module -> smallest cumulative import time (ms) over `rounds` runs of `python -X importtime`."""
    best: dict[str, float] = {}
    for _ in range(rounds):
        err = subprocess.run([argv[0], "-X", "importtime", *argv[1:]], env=env, cwd=env["UNWIND_CACHE_DIR"],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True, check=True).stderr
        for line in err.splitlines():
            parts = line.split("|")
            if len(parts) == 3 and parts[1].strip().isdigit():
                name, cumulative = parts[2].strip(), int(parts[1]) / 1000
                best[name] = min(best.get(name, cumulative), cumulative)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--perf-data", help="a recording (default: a one- or two-sample one made here)")
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--root", default=str(ROOT), help="the checkout whose sources are timed")
    parser.add_argument("--no-valgrind", action="store_true")
    parser.add_argument("--min-ms", type=float, default=1.0, help="list imports costing at least this")
    args = parser.parse_args()
    print(load())
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        data = str(Path(args.perf_data).resolve()) if args.perf_data else str(tiny_recording(tmp))
        # run in the cache directory: `python -c` puts the working directory first on sys.path
        (tmp / "cache").mkdir()
        env = dict(os.environ, UNWIND_CACHE_DIR=str(tmp / "cache"), PYTHONPATH=str(Path(args.root).resolve()))
        env.pop("DEBUGINFOD_URLS", None)
        subprocess.run([sys.executable, "-m", "compileall", "-q", f"{args.root}/unwind", f"{args.root}/formats"],
                       stdout=subprocess.DEVNULL, check=True)
        ours = [sys.executable, "-c", RUN, "perf", data, "--unwinder", "dwarf"]
        bare = [sys.executable, "-c", "pass"]
        for _ in range(2):  # warm the caches: the first run builds the indexes, the second checks their CRCs once
            timed(ours, env)
        if not args.no_valgrind:
            for label, argv in (("python -c pass", bare), ("unwind perf", ours)):
                count = instructions(argv, env, tmp)
                print(f"  instructions {label:<16} {count / 1e6:8.1f} M" if count else f"  {label}: no valgrind")
        times: dict[str, list[float]] = {"python -c pass": [], "unwind perf": []}
        for _ in range(args.rounds):
            times["python -c pass"].append(timed(bare, env))
            times["unwind perf"].append(timed(ours, env))
        for label, seconds in times.items():
            print(f"  wall (median of {args.rounds}) {label:<16} {statistics.median(seconds) * 1000:7.1f} ms")
        best = importtimes(ours, env, args.rounds)
        print(f"  -X importtime, smallest cumulative of {args.rounds} runs (ms), {args.min_ms:g} ms or more:")
        top = [name for name in best if "." not in name or name.startswith(("unwind.", "formats."))]
        for name in sorted(top, key=lambda n: -best[n]):
            if best[name] >= args.min_ms:
                print(f"    {best[name]:7.1f}  {name}")
    print(load())


if __name__ == "__main__":
    main()
