"""Read a perf.data into model Samples (PerfSession.samples()) and time it, and time importing the reader.

usage: .venv/bin/python bench/perfdata_read.py PERF.DATA [--rounds N] [--imports M] [--root DIR ...]

Each --root is a tree to measure (default: this one), e.g. an older commit unpacked with
`git archive COMMIT | tar -x -C /tmp/old` and byte-compiled (`python -m compileall -q unwind formats`).
Reading: µs per sample of `list(PerfSession(path).samples())` in a warm process, median (and min)
of N, each tree in three blocks taken in turn.  Imports: ms for `formats.perfdata` +
`unwind.perfsession` after `unwind.model`, median of M fresh processes, trees taken in turn.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent

READ = r"""
import json, sys, time
sys.path.insert(0, ROOT)
from unwind.perfsession import PerfSession
n = len(list(PerfSession(PATH).samples()))
times = []
for _ in range(ROUNDS):
    t = time.perf_counter()
    list(PerfSession(PATH).samples())
    times.append(time.perf_counter() - t)
print(json.dumps({"samples": n, "times": times}))
"""

IMPORT = r"""
import sys, time
sys.path.insert(0, ROOT)
import unwind.model
t = time.perf_counter()
import formats.perfdata, unwind.perfsession
print(time.perf_counter() - t)
"""


def run(code: str, **values: object) -> str:
    for name, value in values.items():
        code = code.replace(name, repr(value))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd="/").stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("perf_data")
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--imports", type=int, default=31)
    parser.add_argument("--root", action="append", help="a checkout to measure (repeatable; default this one)")
    args = parser.parse_args()
    roots = args.root or [str(HERE)]
    path = str(Path(args.perf_data).resolve())
    reads: dict[str, dict] = {root: {"samples": 0, "times": []} for root in roots}
    for _ in range(3):
        for root in roots:
            got = json.loads(run(READ, ROOT=root, PATH=path, ROUNDS=max(1, args.rounds // 3)))
            reads[root]["samples"] = got["samples"]
            reads[root]["times"] += got["times"]
    imports: dict[str, list[float]] = {root: [] for root in roots}
    for _ in range(args.imports):
        for root in roots:
            imports[root].append(float(run(IMPORT, ROOT=root)))
    for root in roots:
        n, times = reads[root]["samples"], reads[root]["times"]
        print(f"{root}: {n} samples, {statistics.median(times) / n * 1e6:.2f} µs/sample "
              f"(min {min(times) / n * 1e6:.2f}), imports {statistics.median(imports[root]) * 1e3:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
