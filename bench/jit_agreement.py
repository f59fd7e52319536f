#!/usr/bin/env python3
"""Agreement with `perf script --no-inline` on a node recording (JIT code named from /tmp/perf-PID.map).

Records a node script (default tests/data/jit/work.js) under `perf record -e cpu-clock -F FREQ --call-graph
dwarf` with node's --perf-basic-prof --interpreted-frames-native-stack and any --node-flag (or takes
PERF.DATA whose map file is still in /tmp), unwinds it with each unwinder and counts, per sample, identical
user frames, perf stopping early while ours goes on through mapped code (both agreement, as issue 10
counts it), differences explained in tests/data/perf/record.py (perf wrong) and the rest. A dwarf sample
that stops after a JIT frame as perf does, where perf's JIT frame is the caller's caller, is explained
when auto's walk of the same sample (a longer one through the same frames) is. Explained and other
differences are listed by frame 0's function.

Usage: .venv/bin/python bench/jit_agreement.py [PERF.DATA] [--script JS] [--frequency 500]
                                                [--node-flag=--no-opt ...] [--keep]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "data" / "perf"))

from record import (  # noqa: E402
    explained_difference,
    goes_on_past_perf,
    perf_script_text,
    user_frames,
)

from formats.perfscript import parse_perf_script  # noqa: E402

KINDS = ("identical", "perf stops, ours goes on", "explained (perf wrong)", "other")


def classify(mine: list, perfs: list, auto: list | None) -> int:
    """Index into KINDS; `auto` (auto's frames of the same sample) explains a shorter dwarf walk."""
    if mine == perfs:
        return 0
    if goes_on_past_perf(mine, perfs):
        return 1
    if explained_difference(mine, perfs):
        return 2
    if auto is not None and auto[:len(mine)] == mine and explained_difference(auto, perfs):
        return 2
    return 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", nargs="?", help="an existing recording (its /tmp/perf-PID.map still there)")
    parser.add_argument("--script", default=str(ROOT / "tests" / "data" / "jit" / "work.js"))
    parser.add_argument("--frequency", type=int, default=500)
    parser.add_argument("--node-flag", action="append", default=[], help="extra node flag (repeatable)")
    parser.add_argument("--keep", action="store_true", help="keep the map file of a new recording")
    args = parser.parse_args()
    if args.data:
        data = Path(args.data)
    else:
        data = Path(tempfile.mkdtemp()) / "node.perf.data"
        subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", str(args.frequency), "--call-graph",
                        "dwarf", "-o", str(data), "--", "node", "--perf-basic-prof",
                        "--interpreted-frames-native-stack", *args.node_flag, args.script],
                       check=True, stdout=subprocess.DEVNULL, cwd=data.parent)
    theirs_text = perf_script_text(data)
    theirs = list(parse_perf_script(theirs_text))
    match = re.search(r"^\S+\s+(\d+)/", theirs_text, re.MULTILINE)
    pid = match.group(1) if match else "?"
    with open("/proc/loadavg") as fh:
        load = fh.read().split()[:3]
    print(f"{data}: {len(theirs)} samples, /tmp/perf-{pid}.map, load average {' '.join(load)}")
    print(f"| unwinder | {' | '.join(KINDS)} | agreement |")
    print("|---|---|---|---|---|---|")
    auto_frames: list[list] = []
    details = []
    for unwinder in ("auto", "dwarf"):
        text = subprocess.run([sys.executable, "-m", "unwind", "perf", str(data), "--unwinder", unwinder],
                              capture_output=True, text=True, check=True, cwd=ROOT).stdout
        counts = [0, 0, 0, 0]
        leaves: list[Counter] = [Counter(), Counter()]
        for i, (a, b) in enumerate(zip(parse_perf_script(text), theirs)):
            mine, perfs = user_frames(a), user_frames(b)
            if unwinder == "auto":
                auto_frames.append(mine)
            kind = classify(mine, perfs, auto_frames[i] if unwinder == "dwarf" else None)
            counts[kind] += 1
            if kind >= 2:
                leaves[kind - 2][perfs[0][1] if perfs else None] += 1
        share = (counts[0] + counts[1]) / max(len(theirs), 1)
        print(f"| {unwinder} | {' | '.join(map(str, counts))} | {share:.1%} |")
        details.append((unwinder, leaves))
    for unwinder, (explained, other) in details:
        for label, leaves in (("explained", explained), ("other", other)):
            if leaves:
                print(f"{unwinder} {label} by frame 0: " + ", ".join(f"{name} {n}" for name, n in leaves.most_common()))
    if not args.data and not args.keep:
        Path(f"/tmp/perf-{pid}.map").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
