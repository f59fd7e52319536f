#!/usr/bin/env python3
"""Agreement with `perf script --no-inline` on a node recording (JIT code named from /tmp/perf-PID.map).

Records tests/data/jit/work.js under `perf record -e cpu-clock -F 500 --call-graph dwarf` with node's
--perf-basic-prof --interpreted-frames-native-stack (or takes PERF.DATA whose map file is still in /tmp),
unwinds it with each unwinder and counts, per sample, identical user frames, perf stopping early while
ours goes on through mapped code (both agreement, as issue 10 counts it), differences explained in
tests/data/perf/record.py (perf wrong) and the rest.

Usage: .venv/bin/python bench/jit_agreement.py [PERF.DATA] [--keep]
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "data" / "perf"))

from record import (
    explained_difference,
    goes_on_past_perf,
    perf_script_text,
    user_frames,
)

from formats.perfscript import parse_perf_script


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if args:
        data = Path(args[0])
    else:
        data = Path(tempfile.mkdtemp()) / "node.perf.data"
        subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", "500", "--call-graph", "dwarf", "-o",
                        str(data), "--", "node", "--perf-basic-prof", "--interpreted-frames-native-stack",
                        str(ROOT / "tests" / "data" / "jit" / "work.js")], check=True, stdout=subprocess.DEVNULL)
    theirs_text = perf_script_text(data)
    theirs = list(parse_perf_script(theirs_text))
    pid = re.search(r"^\S+\s+(\d+)/", theirs_text, re.MULTILINE).group(1)
    print(f"{data}: {len(theirs)} samples, /tmp/perf-{pid}.map")
    print("| unwinder | identical | perf stops, ours goes on | agreement | explained (perf wrong) | other |")
    print("|---|---|---|---|---|---|")
    for unwinder in ("auto", "dwarf"):
        text = subprocess.run([sys.executable, "-m", "unwind", "perf", str(data), "--unwinder", unwinder],
                              capture_output=True, text=True, check=True, cwd=ROOT).stdout
        counts = [0, 0, 0, 0]
        for a, b in zip(parse_perf_script(text), theirs):
            mine, perfs = user_frames(a), user_frames(b)
            kind = 0 if mine == perfs else 1 if goes_on_past_perf(mine, perfs) else \
                2 if explained_difference(mine, perfs) else 3
            counts[kind] += 1
        n = len(theirs)
        share = (counts[0] + counts[1]) / n
        print(f"| {unwinder} | {counts[0]} | {counts[1]} | {share:.1%} | {counts[2]} | {counts[3]} |")
    if not args and "--keep" not in sys.argv:
        Path(f"/tmp/perf-{pid}.map").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
