#!/usr/bin/env python3
"""Complete stacks on real perf recordings of deep programs: 8 KiB copy without and with --stitch, and 64 KiB.

Records tests/data/perf/deep.cc (g++ -O2 -g) and tests/data/perf/deep.py (python3.11, recursion
200-260 deep through map()) with `perf record -e cpu-clock -F 1000 --call-graph dwarf` (perf's
default 8 KiB copy) and `--call-graph dwarf,65528`, then counts the samples whose user stack from
`unwind perf --format json [--stitch]` reaches _start or a thread start. Prints a Markdown table.

Usage: .venv/bin/python bench/stitch_perf.py [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "data" / "perf"))

from deepstacks import complete, programs, record  # noqa: E402


def shares(path: Path, *options: str) -> tuple[int, int, str]:
    """(complete samples, samples, unwind perf's stderr summary)."""
    run = subprocess.run([sys.executable, "-m", "unwind", "perf", str(path), "--format", "json", *options],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    stacks = [json.loads(line) for line in run.stdout.splitlines()]
    done = sum(complete([f["symbol"] for f in s["frames"]]) for s in stacks)
    return done, len(stacks), run.stderr.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", help="directory for the build and the recordings (default: a temporary one)")
    args = parser.parse_args()
    tmp = Path(args.work or tempfile.mkdtemp(prefix="stitch-perf-"))
    tmp.mkdir(parents=True, exist_ok=True)
    print("| program | 8 KiB copy | 8 KiB + --stitch | 64 KiB copy (reference) | stitching at 8 KiB |")
    print("|---|---|---|---|---|")
    for name, argv in programs(tmp).items():
        small, large = record(tmp, name, argv), record(tmp, name, argv, 65528)
        cells, summaries = [], []
        for path, options in ((small, ()), (small, ("--stitch",)), (large, ())):
            done, total, summary = shares(path, *options)
            cells.append(f"{done}/{total} = {done / total * 100:.1f} %")
            summaries.append(summary.splitlines()[-1].removeprefix("unwind perf: ") if summary else "")
        print(f"| {name} | " + " | ".join(cells) + f" | {summaries[1]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
