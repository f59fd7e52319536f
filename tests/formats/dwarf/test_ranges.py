"""Range lists (.debug_ranges, .debug_rnglists) on hand-assembled bytes, LLVM 14 semantics, and corrupt input."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from formats.dwarf.ranges import debug_ranges, rnglist_offset, rnglist_ranges
from formats.errors import FormatError, TruncatedError
from formats.leb128 import encode_uleb

Q = struct.Struct("<QQ")


def _pairs(*pairs: tuple[int, int]) -> bytes:
    return b"".join(Q.pack(a, b) for a, b in pairs)


def test_debug_ranges_base_selection_and_tombstones():
    data = _pairs(
        (0x10, 0x20),  # offset pair on the CU base 0x1000 -> [0x1010, 0x1020)
        (0xFFFFFFFFFFFFFFFF, 0x5000),  # base address selection: base = 0x5000
        (0x0, 0x8),  # -> [0x5000, 0x5008)
        (0xFFFFFFFFFFFFFFFE, 0x10),  # start is the DWARF 4 tombstone (max - 1): dropped
        (0x0, 0x0),  # end of list
    )
    assert debug_ranges(b"\xAA" * 3 + data, 3, 8, 0x1000) == [(0x1010, 0x1020), (0x5000, 0x5008)]


def test_debug_ranges_without_base_and_dead_base():
    data = _pairs(
        (0x400, 0x410),  # no CU base address: used as is
        (0xFFFFFFFFFFFFFFFF, 0xFFFFFFFFFFFFFFFE),  # base = tombstone: following pairs are dead
        (0x0, 0x8),  # dropped
        (0x0, 0x0),
    )
    assert debug_ranges(data, 0, 8, None) == [(0x400, 0x410)]


def test_debug_ranges_four_byte_addresses():
    data = struct.pack("<II", 0x10, 0x18) + struct.pack("<II", 0xFFFFFFFF, 0x100) + struct.pack("<II", 1, 2) + bytes(8)
    # 4-byte entries: base selection is 0xffffffff, base 0x100 -> [0x101, 0x102)
    assert debug_ranges(data, 0, 4, 0) == [(0x10, 0x18), (0x101, 0x102)]


def test_debug_ranges_unterminated_is_truncated():
    with pytest.raises(TruncatedError):
        debug_ranges(_pairs((1, 2)), 0, 8, 0)


def _addr(index: int) -> int | None:
    """A fake .debug_addr: slot i holds 0x1000 * (i + 1); slots past 3 do not exist."""
    return 0x1000 * (index + 1) if index < 4 else None


def test_rnglists_every_entry_kind():
    data = b"".join([
        b"\x04" + encode_uleb(0x10) + encode_uleb(0x20),  # offset_pair on CU base 0x7000 -> [0x7010, 0x7020)
        b"\x01" + encode_uleb(1),  # base_addressx slot 1 -> base 0x2000
        b"\x04" + encode_uleb(0x4) + encode_uleb(0x8),  # -> [0x2004, 0x2008)
        b"\x05" + struct.pack("<Q", 0x9000),  # base_address 0x9000
        b"\x04" + encode_uleb(0) + encode_uleb(1),  # -> [0x9000, 0x9001)
        b"\x06" + struct.pack("<QQ", 0x100, 0x180),  # start_end -> [0x100, 0x180)
        b"\x07" + struct.pack("<Q", 0x200) + encode_uleb(0x10),  # start_length -> [0x200, 0x210)
        b"\x03" + encode_uleb(2) + encode_uleb(0x30),  # startx_length slot 2 -> [0x3000, 0x3030)
        b"\x02" + encode_uleb(0) + encode_uleb(3),  # startx_endx slots 0, 3 -> [0x1000, 0x4000)
        b"\x03" + encode_uleb(9) + encode_uleb(0x5),  # startx_length, missing slot -> LLVM uses 0: [0, 5)
        b"\x06" + struct.pack("<QQ", 0xFFFFFFFFFFFFFFFF, 0x10),  # tombstone start: dropped
        b"\x00",  # end_of_list
        b"\x06",  # (bytes after the list are not read)
    ])
    assert rnglist_ranges(data, 0, 8, 0x7000, _addr) == [
        (0x7010, 0x7020), (0x2004, 0x2008), (0x9000, 0x9001), (0x100, 0x180), (0x200, 0x210),
        (0x3000, 0x3030), (0x1000, 0x4000), (0, 5)]


def test_rnglists_base_addressx_missing_slot_uses_the_index():
    data = b"\x01" + encode_uleb(7) + b"\x04" + encode_uleb(1) + encode_uleb(2) + b"\x00"
    assert rnglist_ranges(data, 0, 8, None, _addr) == [(8, 9)]


def test_rnglists_unknown_kind_and_truncation():
    with pytest.raises(FormatError, match="kind 0x9"):
        rnglist_ranges(b"\x09\x00", 0, 8, 0, _addr)
    with pytest.raises(TruncatedError):
        rnglist_ranges(b"\x04\x01", 0, 8, 0, _addr)
    with pytest.raises(TruncatedError):
        rnglist_ranges(b"\x06" + bytes(10), 0, 8, 0, _addr)


def test_rnglist_offset_table():
    # header (12 bytes, contents irrelevant here), then two 4-byte offsets relative to the base 12
    data = bytes(12) + struct.pack("<II", 8, 0x20)
    assert rnglist_offset(data, 12, 0, 4) == 20
    assert rnglist_offset(data, 12, 1, 4) == 44
    assert rnglist_offset(data, 12, 2, 4) is None


@given(st.binary(max_size=64), st.integers(0, 70), st.sampled_from([4, 8]))
def test_random_bytes_give_ranges_or_format_error(data, offset, size):
    for decode in (lambda: rnglist_ranges(data, offset, size, 0, _addr), lambda: debug_ranges(data, offset, size, 0)):
        try:
            ranges = decode()
        except FormatError:
            continue
        assert all(0 <= low < 1 << 64 and 0 <= high < 1 << 64 for low, high in ranges)
