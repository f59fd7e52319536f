#!/usr/bin/env python3
"""The cost of building one symbolised frame: `unwind.Frame._make(row)` (a NamedTuple, what the
symbolizer does per function per address) against the same 17 fields as a frozen slots dataclass
(the alternative design), in the same run. Prints microseconds per frame and the ratio.

Usage: .venv/bin/python bench/frame_make.py [--number N] [--repeat R]
"""

from __future__ import annotations

import argparse
import sys
import timeit
from dataclasses import dataclass, fields
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from formats.stack import Frame  # noqa: E402


@dataclass(frozen=True, slots=True)
class SlotsFrame:
    """Frame's fields, as a frozen slots dataclass."""

    addr: int
    module: str | None = None
    offset: int | None = None
    build_id: str | None = None
    symbol: str | None = None
    file: str | None = None
    line: int | None = None
    column: int | None = None
    inlined: bool = False
    via: str | None = None
    kernel: bool = False
    lookup: int | None = None
    map_offset: int | None = None
    start_line: int | None = None
    start_file: str | None = None
    start_address: int | None = None
    discriminator: int = 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    assert [f.name for f in fields(SlotsFrame)] == list(Frame._fields)
    row = [0x401136, "/usr/bin/prog", 0x401136, None, "main", "prog.c", 3, 4, False, None, False, None, None,
           3, "prog.c", 0x401120, 0]
    make = Frame._make
    ours = min(timeit.repeat(lambda: make(row), number=args.number, repeat=args.repeat)) / args.number * 1e6
    theirs = min(timeit.repeat(lambda: SlotsFrame(*row), number=args.number, repeat=args.repeat)) / args.number * 1e6
    print(f"Frame._make(row)        {ours:.3f} us/frame")
    print(f"slots dataclass(*row)   {theirs:.3f} us/frame")
    print(f"ratio dataclass/Frame   {theirs / ours:.2f}")


if __name__ == "__main__":
    main()
