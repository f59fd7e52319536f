#!/usr/bin/env python3
"""Whole-process wall time of `unwind symbolize` against llvm-symbolizer on the same addresses.

Interleaved runs, medians.  Warm = our index already built; cold = a fresh, empty cache dir.
Usage: .venv/bin/python bench/symbolize.py [--obj /usr/bin/python3.11d] [--count 3000] [--rounds 5]
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
sys.path.insert(0, str(ROOT / "tests" / "unwind"))
sys.path.insert(0, str(ROOT))

from llvm_peer import random_function_addresses  # noqa: E402

UNWIND = str(Path(sys.executable).with_name("unwind"))


def timed(argv: list[str], stdin: bytes, env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(argv, input=stdin, stdout=subprocess.DEVNULL, check=True, env=env)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--obj", default="/usr/bin/python3.11d")
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    addresses = random_function_addresses(args.obj, args.count, seed=7)
    stdin = "".join(f"0x{a:x}\n" for a in addresses).encode()
    llvm = ["llvm-symbolizer", "--inlines", f"--obj={args.obj}"]
    ours = [UNWIND, "symbolize", "--inlines", f"--obj={args.obj}"]

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as warm_dir:
        env = dict(os.environ, UNWIND_CACHE_DIR=warm_dir)
        timed(ours, stdin, env)  # build the index once
        llvm_t, warm_t, cold_t = [], [], []
        for _ in range(args.rounds):
            llvm_t.append(timed(llvm, stdin, env))
            warm_t.append(timed(ours, stdin, env))
            with tempfile.TemporaryDirectory() as cold_dir:
                cold_t.append(timed(ours, stdin, dict(os.environ, UNWIND_CACHE_DIR=cold_dir)))

    load_after = os.getloadavg()
    m_llvm, m_warm, m_cold = (statistics.median(t) for t in (llvm_t, warm_t, cold_t))
    print(f"{args.count} addresses of {args.obj}, {args.rounds} interleaved rounds, medians; "
          f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after ({os.cpu_count()} cores)")
    print(f"  llvm-symbolizer        {m_llvm:7.3f} s")
    print(f"  unwind (warm index)    {m_warm:7.3f} s   ratio {m_warm / m_llvm:.2f}x  (target <= 0.5x)")
    print(f"  unwind (cold, no index){m_cold:7.3f} s   ratio {m_cold / m_llvm:.2f}x  (target <= 8 s)")


if __name__ == "__main__":
    main()
