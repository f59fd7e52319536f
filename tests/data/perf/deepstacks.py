"""Deep programs recorded with `perf record --call-graph dwarf[,SIZE]` for the stitching test and
bench/stitch_perf.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
ENDS = ("_start", "clone3", "clone", "start_thread")  # outermost functions of a complete user stack


def programs(tmp: Path) -> dict[str, list[str]]:
    """name -> argv: the C++ program built with g++ -O2 -g into `tmp`, the Python one on python3.11."""
    binary = tmp / "deepcc"
    if not binary.exists():
        subprocess.run(["g++", "-O2", "-g", str(HERE / "deep.cc"), "-o", str(binary)], check=True)
    return {"c++": [str(binary)], "python3.11": ["/usr/bin/python3.11", str(HERE / "deep.py")]}


def record(tmp: Path, name: str, argv: list[str], stack: int | None = None, frequency: int = 1000) -> Path:
    """perf.data of one run; `stack` = the --call-graph dwarf copy size (perf's default 8192 when None)."""
    out = tmp / f"{name}-{stack or 'default'}.perf.data"
    mode = "dwarf" if stack is None else f"dwarf,{stack}"
    subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", str(frequency), "--call-graph", mode,
                    "-o", str(out), "--", *argv], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return out


def complete(symbols: list[str | None]) -> bool:
    """Whether a stack (symbols leaf first) reaches _start or a thread start."""
    return bool(symbols) and (symbols[-1] or "").split("@")[0] in ENDS
