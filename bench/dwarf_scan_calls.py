"""Function calls of the .debug_info scan (scan_units) over the first N units of a binary, by function.

Call counts do not depend on the machine's load, so two trees compare exactly: run this script from
each (e.g. `git archive` copies) and diff the output.

usage: .venv/bin/python bench/dwarf_scan_calls.py BINARY [--units N]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from formats.dwarf.info import DwarfSections, ScanStats, compile_units, scan_units  # noqa: E402
from formats.elf import ElfFile  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binary")
    parser.add_argument("--units", type=int, default=300, help="scan the first N units (default 300)")
    args = parser.parse_args()
    sections = DwarfSections.from_elf(ElfFile(args.binary))
    offsets = [unit.offset for unit in compile_units(sections)][:args.units]
    stats = ScanStats()
    profile = cProfile.Profile()
    profile.enable()
    entries = sum(len(unit.starts) for unit in scan_units(sections, stats=stats, offsets=offsets))
    profile.disable()
    # By function name and file, without line numbers (they move between trees); generated dataclass
    # __init__s all read "<string>:2" and are left out (pstats keeps only one of them).
    counts: dict[str, int] = {}
    for (path, _, name), row in pstats.Stats(profile).stats.items():
        if path != "<string>":
            key = f"{Path(path).name}:{name}"
            counts[key] = counts.get(key, 0) + row[1]
    print(f"units {stats.units} dies {stats.dies} subroutines {stats.subroutines} address entries {entries}")
    print(f"calls {sum(counts.values())}")
    for key, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"{count:>9} {key}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
