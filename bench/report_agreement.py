#!/usr/bin/env python3
"""`unwind report` against `perf report --stdio` on held-out recordings of real programs (the acceptance of
issue 17), with the time each took.

For each workload of tests/data/perf/record.py (python3.11, python3.11d, gzip, sqlite3, a C++ program on
the debug libstdc++), recorded here with `--call-graph dwarf`: both reports under
`--sort dso,sym -g none --no-inline`, with and without children; every row of perf's at or above 0.5 %
is looked up in ours. Printed per workload and mode: perf's rows >= 0.5 %, how many of them ours has
with exactly the same percentages, how many within the share of samples whose stacks differ (counted
against `perf script`), the rows missing or off (first few), and the wall time of each report.

Usage: .venv/bin/python bench/report_agreement.py [--workload NAME ...] [--unwinder dwarf] [--keep DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]  # bench/unwind.py is a script
sys.path.insert(0, str(ROOT / "tests" / "data" / "perf"))
sys.path.insert(0, str(ROOT / "tests" / "unwind"))

from record import record, workloads
from report_peer import disagreeing_period, perf_stacks, report_rows, take_row

import unwind

ARGS = ("--no-inline", "--sort", "dso,sym", "-g", "none")
PERF_BOGUS_ROWS = ("[unknown] [.] 0xffffffffffffffff", "[unknown] [k] 0xffffffffffffffff")  # [k]: level inherited


def timed(argv: list[str]) -> tuple[str, float]:
    start = time.monotonic()
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return out, time.monotonic() - start


def compare(path: Path, unwinder: str, slack: float) -> None:
    for children in ("--children", "--no-children"):
        theirs_text, perf_s = timed(["perf", "report", "-i", str(path), "--stdio", *ARGS, children])
        ours_text, ours_s = timed([sys.executable, "-m", "unwind", "report", str(path), "--stdio", "--unwinder",
                                   unwinder, *ARGS, children])
        theirs, ours = report_rows(theirs_text), report_rows(ours_text)
        rows = exact = close = bogus = 0
        off = []
        for key, values in theirs.items():
            for value in values:
                if value[0] < 0.5:
                    continue
                if key in PERF_BOGUS_ROWS:
                    bogus += 1
                    continue
                rows += 1
                candidates = ours.get(key, [])
                if take_row(candidates, value, 0.0) is not None:
                    exact += 1
                elif take_row(candidates, value, slack + 0.01) is not None:
                    close += 1
                else:
                    off.append((key, value, ours.get(key)))
        print(f"  {children:14} perf rows >= 0.5 %: {rows:4}  same: {exact:4}  within {slack:.2f} %: {close:3}  "
              f"off: {len(off):2}  perf's bogus row: {bogus}  time: unwind {ours_s:.2f} s, perf {perf_s:.2f} s")
        for key, value, mine in off[:5]:
            print(f"      {key}: perf {value}, ours {mine}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workload", action="append", help="record.py workload names (default: all)")
    parser.add_argument("--unwinder", default="dwarf")
    parser.add_argument("--keep", metavar="DIR", help="record into DIR and keep the recordings")
    args = parser.parse_args()
    tmp = Path(args.keep or tempfile.mkdtemp(prefix="report-agreement-"))
    tmp.mkdir(parents=True, exist_ok=True)
    programs = workloads(tmp)
    for name in args.workload or list(programs):
        path = record(tmp, name, programs[name])
        with unwind.Session() as session:
            stacks = list(session.perf(path, args.unwinder, lines=False, progress=False))
        differ, total = disagreeing_period(stacks, perf_stacks(path))
        slack = 100.0 * differ / total if total else 0.0
        print(f"{name}: {len(stacks)} samples, {slack:.2f} % of the period unwound differently from perf")
        compare(path, args.unwinder, slack)


if __name__ == "__main__":
    main()
