#!/usr/bin/env python3
"""Whole-process wall time of `unwind perf --unwinder dwarf` against `perf script` on the same recording.

Both symbolise without inlines and print perf-script text.  Interleaved runs, medians; warm =
our symbol index and CFI tables built (perf's own caches are warm after its first run too);
cold = a fresh, empty cache directory for us.
Usage: .venv/bin/python bench/perf.py [--workload python3.11] [--rounds 5] [--perf-data FILE]
                                      [--frequency 1000] [--python-rounds 6]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "data" / "perf"))

from record import record, workloads  # noqa: E402

UNWIND = str(Path(sys.executable).with_name("unwind"))


def timed(argv: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workload", default="python3.11", help="one of tests/data/perf/record.py's workloads")
    parser.add_argument("--perf-data", help="an existing recording instead")
    parser.add_argument("--frequency", type=int, default=1000, help="perf record -F (default 1000)")
    parser.add_argument("--python-rounds", type=int, default=6,
                        help="how long the python workloads run (NOTES: 20 for BIG, 50 for HUGE at -F 4000)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = Path(args.perf_data) if args.perf_data else record(
            tmp, args.workload, workloads(tmp, args.python_rounds)[args.workload], args.frequency)
        perf = ["perf", "script", "-i", str(data), "-F", "comm,pid,tid,time,ip,sym,dso", "--no-inline"]
        ours = [UNWIND, "perf", str(data), "--unwinder", "dwarf"]
        one = [*ours, "--jobs", "1"]  # the same without forked workers
        warm_env = dict(os.environ, UNWIND_CACHE_DIR=str(tmp / "warm"))
        # An installed package has its .pyc files; a checkout edited since .ci/setup may not (and with
        # PYTHONDONTWRITEBYTECODE set nothing writes them), which would time the compiler instead of us.
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "unwind"), str(ROOT / "formats")],
                       stdout=subprocess.DEVNULL, check=True)
        timed(ours, warm_env)
        timed(perf, warm_env)
        perf_t, warm_t, one_t, cold_t = [], [], [], []
        for i in range(args.rounds):
            perf_t.append(timed(perf, warm_env))
            warm_t.append(timed(ours, warm_env))
            one_t.append(timed(one, warm_env))
            cold_t.append(timed(ours, dict(os.environ, UNWIND_CACHE_DIR=str(tmp / f"cold{i}"))))
        samples = subprocess.run(perf, capture_output=True, text=True).stdout.count("\n\n")
        mib = data.stat().st_size / 2**20
    m_perf, m_warm, m_one, m_cold = (statistics.median(t) for t in (perf_t, warm_t, one_t, cold_t))
    print(f"{data.name}: {samples} samples, {mib:.1f} MiB, {args.rounds} interleaved rounds, medians")
    print(f"  perf script              {m_perf:7.3f} s")
    print(f"  unwind perf (warm)       {m_warm:7.3f} s   ratio {m_warm / m_perf:.2f}x  (target <= 1.0x)")
    print(f"  unwind perf --jobs 1     {m_one:7.3f} s   ratio {m_one / m_perf:.2f}x")
    print(f"  unwind perf (cold)       {m_cold:7.3f} s   ratio {m_cold / m_perf:.2f}x")


if __name__ == "__main__":
    main()
