"""The address -> unit table: .debug_aranges sets vs llvm-dwarfdump, LLVM's endpoint sweep on hand-made ranges."""

from __future__ import annotations

import re
import struct
import subprocess
from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from conftest import PYTHON_DBG, need_tool
from formats.dwarf.aranges import find_unit, parse_aranges, unit_address_ranges
from formats.dwarf.info import DwarfSections
from formats.elf import ElfFile


def test_sets_match_llvm_dwarfdump():
    text = subprocess.run([need_tool("llvm-dwarfdump"), "--debug-aranges", str(PYTHON_DBG)],
                          capture_output=True, text=True, check=True).stdout
    want = []
    cus = set()
    cu = None
    for line in text.splitlines():
        header = re.search(r"cu_offset = (0x[0-9a-f]+)", line)
        if header:
            cu = int(header[1], 16)
            cus.add(cu)
        pair = re.match(r"\[(0x[0-9a-f]+), (0x[0-9a-f]+)\)", line)
        if pair:
            want.append((int(pair[1], 16), int(pair[2], 16), cu))
    sections = DwarfSections.from_elf(ElfFile(PYTHON_DBG))
    ranges, covered, problems = parse_aranges(sections.aranges)
    assert problems == []
    assert ranges == want
    assert covered == cus  # sets without descriptors still mark their unit as covered
    assert len(want) > 100


@dataclass(frozen=True)
class _Unit:
    offset: int
    ranges: tuple[tuple[int, int], ...]


def _aranges_set(cu: int, *descriptors: tuple[int, int]) -> bytes:
    """One DWARF32 version-2 set: 12-byte header padded to 16, the descriptors, the (0, 0) terminator."""
    body = struct.pack("<HIBB", 2, cu, 8, 0) + bytes(4)  # version, cu offset, address/segment size, padding
    body += b"".join(struct.pack("<QQ", a, n) for a, n in descriptors) + bytes(16)
    return struct.pack("<I", len(body)) + body


def test_sweep_lowest_unit_wins_and_adjacent_pieces_merge():
    sections = DwarfSections(aranges=_aranges_set(0x50, (0x1000, 0x100)) + _aranges_set(0x10, (0x1080, 0x100)))
    units = [
        _Unit(0x10, ((0, 0),)),  # covered by .debug_aranges: its DIE ranges are ignored
        _Unit(0x50, ((0x9000, 0x9100),)),  # covered too
        _Unit(0x90, ((0x1100, 0x1200), (0x1200, 0x1300), (0x5000, 0x5000))),  # not covered: DIE ranges count
    ]
    table = unit_address_ranges(sections, units)
    assert table == [
        (0x1000, 0x1100, 0x50),  # 0x50 starts alone; its piece keeps growing while 0x50 stays live
        (0x1100, 0x1180, 0x10),  # 0x50 ended: a new piece, owned by the lowest live offset (0x10 < 0x90)
        (0x1180, 0x1300, 0x90),  # [0x1100,0x1200) and [0x1200,0x1300) of one unit merge; empty range ignored
    ]
    assert find_unit(table, 0xFFF) is None
    assert find_unit(table, 0x10FF) == 0x50
    assert find_unit(table, 0x1100) == 0x10
    assert find_unit(table, 0x12FF) == 0x90
    assert find_unit(table, 0x1300) is None


def test_bad_set_stops_the_walk_but_keeps_earlier_sets():
    bad = bytearray(_aranges_set(0x20, (0x2000, 0x10)))
    bad[4:6] = struct.pack("<H", 7)  # unsupported version
    ranges, covered, problems = parse_aranges(_aranges_set(0x10, (0x1000, 0x10)) + bytes(bad)
                                              + _aranges_set(0x30, (0x3000, 0x10)))
    assert ranges == [(0x1000, 0x1010, 0x10)] and covered == {0x10}
    assert len(problems) == 1 and "version 7" in str(problems[0])


def test_unterminated_set_is_a_problem():
    data = bytearray(_aranges_set(0x10, (0x1000, 0x10)))
    data[-16:] = struct.pack("<QQ", 0x2000, 0x10)  # terminator replaced by a real descriptor
    ranges, covered, problems = parse_aranges(bytes(data))
    assert ranges == [] and covered == set() and "not terminated" in str(problems[0])


@given(st.binary(max_size=200))
def test_random_bytes_never_raise(data):
    ranges, covered, problems = parse_aranges(data)
    assert all(cu in covered for _, _, cu in ranges)
    unit_address_ranges(DwarfSections(aranges=data), [])
