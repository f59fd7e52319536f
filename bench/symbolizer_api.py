#!/usr/bin/env python3
"""Addresses per second through the Python API: a profiler's loop over hot and distinct addresses.

Usage: .venv/bin/python bench/symbolizer_api.py [--obj /usr/bin/python3.11d] [--count 1000000]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "unwind")]

from llvm_peer import random_function_addresses  # noqa: E402
from unwind.symbolizer import Symbolizer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--obj", default="/usr/bin/python3.11d")
    parser.add_argument("--count", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        symbolizer = Symbolizer(index_dir=cache)
        symbolizer.module(args.obj)  # index built outside the timing
        distinct = random_function_addresses(args.obj, 100_000, seed=3)
        hot = [random.Random(5).choice(distinct[:3000]) for _ in range(args.count)]
        for label, addresses in (("distinct (cache misses)", distinct), ("hot 3000 (profiler loop)", hot)):
            start = time.perf_counter()
            symbolizer.symbolize(args.obj, addresses)
            elapsed = time.perf_counter() - start
            print(f"{label:26} {len(addresses):>9} addresses  {len(addresses) / elapsed:>10,.0f} addr/s")


if __name__ == "__main__":
    main()
