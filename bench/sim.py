#!/usr/bin/env python3
"""Emulated instructions per CPU second of unwind.sim with truth + LBR on, against bare unicorn and the native run.

Usage: .venv/bin/python bench/sim.py [BINARY ARGS...]   (default: a few corpus programs)
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from unwind.sim.machine import Process  # noqa: E402
from unwind.sim.sampler import Simulation  # noqa: E402

DEFAULT = [
    ("recursion-glibc-static-O2-nofp", ["3000"]),
    ("libcalls-glibc-dynamic-O2-fp", ["40"]),
    ("exceptions-glibc-dynamic-O2-nofp", ["200"]),
    ("frames-musl-static-O0-fp", ["3000"]),
]


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(binary: str, args: list[str], period: int = 10_000) -> dict:
    """CPU seconds (not wall time: the numbers must survive a loaded machine)."""
    t0 = _child_cpu()
    for _ in range(20):
        subprocess.run([binary, *args], capture_output=True, check=False)
    native = max((_child_cpu() - t0) / 20, 1e-4)

    bare = Process(binary, args, track=False)
    t0 = time.process_time()
    bare.run(chunk=period)
    bare_s = time.process_time() - t0

    sim = Simulation(binary, args, period=period, seed=1)
    t0 = time.process_time()
    samples = sum(1 for _ in sim)
    full_s = time.process_time() - t0
    n = sim.process.icount
    return {"binary": Path(binary).name, "instructions": n, "samples": samples, "full_mips": n / full_s / 1e6,
            "bare_mips": bare.icount / bare_s / 1e6, "vs_bare": full_s / bare_s, "vs_native": full_s / native,
            "calls": sim.process.shadow.max_depth}


def main(argv: list[str]) -> int:
    runs = [(argv[0], argv[1:])] if argv else [(str(ROOT / "corpus" / "bin" / n), a) for n, a in DEFAULT]
    print(f"{'program':36} {'instr':>10} {'samples':>7} {'M instr/s':>9} {'bare M/s':>9} {'x bare':>7} {'x native':>8}")
    for binary, args in runs:
        r = measure(binary, args)
        print(f"{r['binary']:36} {r['instructions']:10d} {r['samples']:7d} {r['full_mips']:9.2f} {r['bare_mips']:9.2f}"
              f" {r['vs_bare']:7.2f} {r['vs_native']:8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
