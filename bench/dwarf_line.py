"""Decode every .debug_line program of a binary; print rows, seconds, and pyelftools' time for the ratio.

usage: .venv/bin/python bench/dwarf_line.py [BINARY] [--repeat N] [--no-pyelftools]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from formats.dwarf.line import iter_line_programs  # noqa: E402
from formats.elf import ElfFile  # noqa: E402


def ours(path: str) -> tuple[int, int, float, float]:
    """(programs, rows, seconds reading sections, seconds decoding)."""
    start = time.perf_counter()
    elf = ElfFile(path)
    line = elf.section_bytes(".debug_line")
    strs, line_strs = elf.section_bytes(".debug_str"), elf.section_bytes(".debug_line_str")
    loaded = time.perf_counter()
    programs = rows = 0
    for program in iter_line_programs(line, debug_str=strs, debug_line_str=line_strs, path=path):
        programs += 1
        rows += len(program.rows)
    return programs, rows, loaded - start, time.perf_counter() - loaded


def pyelftools(path: str) -> tuple[int, int, float, float]:
    """The same with pyelftools: (programs, rows, seconds for CU + header parsing, seconds for get_entries)."""
    from elftools.elf.elffile import ELFFile

    with open(path, "rb") as f:
        start = time.perf_counter()
        dwarf = ELFFile(f).get_dwarf_info()
        programs = [dwarf.line_program_for_CU(cu) for cu in dwarf.iter_CUs()]
        programs = [p for p in programs if p is not None]
        loaded = time.perf_counter()
        rows = sum(1 for p in programs for entry in p.get_entries() if entry.state is not None)
        return len(programs), rows, loaded - start, time.perf_counter() - loaded


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binary", nargs="?", default="/usr/bin/python3.11d")
    parser.add_argument("--repeat", type=int, default=3, help="take the best of N runs of our decoder")
    parser.add_argument("--no-pyelftools", action="store_true")
    args = parser.parse_args()
    runs = [ours(args.binary) for _ in range(max(args.repeat, 1))]
    programs, rows, load, decode = min(runs, key=lambda r: r[2] + r[3])
    print(f"unwind     {args.binary}: {programs} programs, {rows} rows, "
          f"sections {load:.3f} s + decode {decode:.3f} s = {load + decode:.3f} s "
          f"({rows / decode / 1e6:.2f} M rows/s)")
    if not args.no_pyelftools:
        p_programs, p_rows, p_load, p_decode = pyelftools(args.binary)
        print(f"pyelftools {args.binary}: {p_programs} programs, {p_rows} rows, "
              f"CUs+headers {p_load:.3f} s + get_entries {p_decode:.3f} s = {p_load + p_decode:.3f} s")
        print(f"ratio (pyelftools / unwind, total): {(p_load + p_decode) / (load + decode):.1f}x")
        if (p_programs, p_rows) != (programs, rows):
            print("WARNING: program/row counts differ from pyelftools")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
