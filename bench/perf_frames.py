#!/usr/bin/env python3
"""How often `unwind perf --unwinder dwarf` gives perf script's user frames (module + function), per workload.

Records each real program of tests/data/perf/record.py with `perf record --call-graph dwarf` and
prints the agreement and every kind of difference.
Usage: .venv/bin/python bench/perf_frames.py [--frequency 1000]
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "data" / "perf")]

from record import agreement, explained_difference, perf_script_text, record, workloads  # noqa: E402

UNWIND = str(Path(sys.executable).with_name("unwind"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frequency", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print("| workload | samples | same user frames | with --like-perf |\n|---|---|---|---|")
        notes = collections.Counter()
        for name, argv in workloads(tmp).items():
            data = record(tmp, name, argv, args.frequency)
            theirs = perf_script_text(data)
            rates = []
            for flags in ([], ["--like-perf"]):
                ours = subprocess.run([UNWIND, "perf", str(data), "--unwinder", "dwarf", *flags],
                                      capture_output=True, text=True, check=True).stdout
                agree, total, diffs = agreement(ours, theirs)
                rates.append(f"{agree} ({100 * agree / total:.2f} %)")
                if not flags:
                    for mine, perfs in diffs:
                        notes[explained_difference(mine, perfs) or "unexplained"] += 1
            print(f"| {name} | {total} | {rates[0]} | {rates[1]} |")
        print()
        for kind, count in notes.most_common():
            print(f"- {kind}: {count}")


if __name__ == "__main__":
    main()
