"""Benchmark the .debug_info scan (formats.dwarf.info.scan_units) against a pyelftools walk of every DIE.

Usage: .venv/bin/python bench/dwarf_info.py [BINARY ...] [--no-pyelftools] [--repeat N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from formats.dwarf.info import DwarfSections, ScanStats, scan_units  # noqa: E402
from formats.elf import ElfFile  # noqa: E402


def ours(path: str, skip_types: bool) -> tuple[float, ScanStats, int]:
    start = time.perf_counter()
    sections = DwarfSections.from_elf(ElfFile(path))
    stats = ScanStats()
    entries = sum(len(u.starts) for u in scan_units(sections, stats=stats, skip_types=skip_types))
    return time.perf_counter() - start, stats, entries


def pyelftools(path: str) -> tuple[float, int]:
    from elftools.elf.elffile import ELFFile
    start = time.perf_counter()
    count = 0
    with open(path, "rb") as fh:
        dwarf = ELFFile(fh).get_dwarf_info()
        for cu in dwarf.iter_CUs():
            for die in cu.iter_DIEs():
                if not die.is_null():
                    count += 1
    return time.perf_counter() - start, count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binaries", nargs="*", default=["/usr/bin/python3.11d"])
    parser.add_argument("--no-pyelftools", action="store_true")
    parser.add_argument("--skip-types", action="store_true", help="jump over non-code subtrees by DW_AT_sibling")
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs of our scan")
    args = parser.parse_args()
    for path in args.binaries:
        runs = [ours(path, args.skip_types) for _ in range(args.repeat)]
        seconds, stats, entries = min(runs, key=lambda r: r[0])
        print(f"{path}: units {stats.units}  DIEs visited {stats.dies}  subroutines {stats.subroutines}  "
              f"address-map entries {entries}  problems {len(stats.problems)}  "
              f"scan {seconds:.2f} s (best of {args.repeat})")
        if not args.no_pyelftools:
            ref_seconds, ref_dies = pyelftools(path)
            print(f"  pyelftools iter_DIEs: {ref_dies} DIEs  {ref_seconds:.2f} s  "
                  f"-> ratio {ref_seconds / seconds:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
