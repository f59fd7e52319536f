#!/usr/bin/env python3
"""Share of samples where `unwind perf --unwinder dwarf` gives perf script's user frames, on real programs.

Each program (tests/data/perf/realworld.py: Rust, C++ by clang+lld / clang+ld.bfd / gcc+gold / gcc+mold,
Go, git; node with --unwinder auto) is built, recorded with `perf record -e cpu-clock --call-graph dwarf`,
and printed by `perf script --no-inline` and by us.  A sample agrees when the user frames (module,
function) are equal, or when perf stopped early (at a frame without unwind tables: JIT code, Go's leaf;
one frame early; in its bogus `ffffffffffffffff [unknown]` frame) and ours goes on through mapped code, as
issue 10's acceptance counts.  The other differences record.explained_difference explains (perf wrong:
its frame-chain guess skips a caller) are counted apart and not as agreement; every unexplained one is
printed.
Usage: .venv/bin/python bench/agreement.py [NAME ...] [--frequency 1000] [--show 3]
       .venv/bin/python bench/agreement.py --perf-data FILE [--perf-data FILE ...] [--unwinder dwarf]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "data" / "perf"))

from realworld import node, realworld_workloads  # noqa: E402
from record import agreement, explained_difference, goes_on_past_perf, perf_script_text, record  # noqa: E402

UNWIND = str(Path(sys.executable).with_name("unwind"))


STOPS_EARLY = "perf stops early (code without tables: JIT code, Go's leaf); ours goes on through mapped code"
COUNTED = (STOPS_EARLY, "perf stops one frame early (its stack bound ignores the copy's last 8 bytes)",
           "perf ends in a bogus [unknown] frame")


def perf_wrong(ours: list, perfs: list) -> str | None:
    """Why ours differs where perf is the one that stops early or is wrong; None if unexplained."""
    if goes_on_past_perf(ours, perfs):
        return STOPS_EARLY
    return explained_difference(ours, perfs)


def score(name: str, data: Path, unwinder: str, env: dict[str, str], show: int) -> str:
    """Print one recording's row and its reasons; the recording's perf script text."""
    theirs = perf_script_text(data)
    ours = subprocess.run([UNWIND, "perf", str(data), "--unwinder", unwinder], capture_output=True,
                          text=True, check=True, env=env).stdout
    equal, total, diffs = agreement(ours, theirs)
    reasons = Counter(perf_wrong(a, b) for a, b in diffs)
    stops = sum(n for reason, n in reasons.items() if reason in COUNTED)
    wrong = sum(n for reason, n in reasons.items() if reason and reason not in COUNTED)
    print(f"{name:<16} {total:>7} {equal:>7} {stops:>10} {wrong:>10} {(equal + stops) / max(total, 1):>7.1%}")
    for reason, n in sorted(reasons.items(), key=lambda item: -item[1]):
        print(f"    {n:>5}  {reason or 'UNEXPLAINED'}")
    for mine, perfs in [d for d in diffs if not perf_wrong(*d)][:show]:
        print(f"    ours: {mine}\n    perf: {perfs}")
    return theirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help="workloads (default: all, node included)")
    parser.add_argument("--frequency", type=int, default=1000)
    parser.add_argument("--show", type=int, default=3, help="unexplained differences printed per program")
    parser.add_argument("--perf-data", action="append", default=[], metavar="FILE",
                        help="score this recording (made by hand, on any program) instead of the workloads")
    parser.add_argument("--unwinder", default="dwarf", help="for --perf-data (default dwarf)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = dict(os.environ, UNWIND_CACHE_DIR=str(tmp / "cache"))
        print(f"{'program':<16} {'samples':>7} {'equal':>7} {'perf stops':>10} {'perf wrong':>10} {'agree':>7}")
        if args.perf_data:
            for data in args.perf_data:
                score(Path(data).name, Path(data).resolve(), args.unwinder, env, args.show)
            return
        programs = dict(realworld_workloads(tmp), node=node(tmp))
        for name in args.names or programs:
            data = record(tmp, name, programs[name], args.frequency)
            theirs = score(name, data, "auto" if name == "node" else "dwarf", env, args.show)
            pid = re.search(r"^\S+\s+(\d+)/", theirs, re.MULTILINE)
            if name == "node" and pid:  # the JIT's perf map, written where perf script reads it
                Path(f"/tmp/perf-{pid.group(1)}.map").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
