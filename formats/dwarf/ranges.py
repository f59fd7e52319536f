"""Address range lists (.debug_ranges for DWARF 2-4, .debug_rnglists for DWARF 5), made absolute as LLVM 14 does."""

from __future__ import annotations

from typing import Callable

from ..errors import FormatError, TruncatedError
from ..leb128 import read_uleb
from .constants import DW_RLE

# Returns the address in .debug_addr slot `index`, or None when there is no such slot.
AddressLookup = Callable[[int], "int | None"]

# Range lists longer than this are corrupt (bounds the walk on garbage).
MAX_ENTRIES = 1 << 20


def tombstone(address_size: int) -> int:
    """The all-ones address that marks a range whose code the linker discarded."""
    return (1 << (8 * address_size)) - 1


def debug_ranges(data: bytes, offset: int, address_size: int, base: int | None,
                 path: str | None = None) -> list[tuple[int, int]]:
    """One DWARF 2-4 range list at `offset` (LLVM DWARFDebugRangeList::getAbsoluteRanges)."""
    entries = []
    pos = offset
    width = address_size
    all_ones = tombstone(address_size)
    while True:
        if pos + 2 * width > len(data):
            raise TruncatedError("range list runs past the end of .debug_ranges", path, offset)
        start = int.from_bytes(data[pos:pos + width], "little")
        end = int.from_bytes(data[pos + width:pos + 2 * width], "little")
        pos += 2 * width
        if start == 0 and end == 0:
            break
        entries.append((start, end))
        if len(entries) > MAX_ENTRIES:
            raise FormatError("range list too long", path, offset)
    dead = all_ones - 1  # DWARF 4 cannot use all-ones (base selection), so max-1 marks dead code
    mask = (1 << 64) - 1
    out = []
    for start, end in entries:
        if start == all_ones:
            base = end
            continue
        if start == dead:
            continue
        if base is not None:
            if base == dead:
                continue
            start = (start + base) & mask
            end = (end + base) & mask
        out.append((start, end))
    return out


def rnglist_offset(data: bytes, rnglists_base: int, index: int, offset_size: int) -> int | None:
    """Section offset of range list `index` of a unit (DW_FORM_rnglistx), or None when out of the section."""
    pos = rnglists_base + index * offset_size
    if pos + offset_size > len(data):
        return None
    return rnglists_base + int.from_bytes(data[pos:pos + offset_size], "little")


def rnglist_ranges(data: bytes, offset: int, address_size: int, base: int | None,
                   lookup: AddressLookup, path: str | None = None) -> list[tuple[int, int]]:
    """One DWARF 5 range list at `offset` (LLVM DWARFDebugRnglist::extract + getAbsoluteRanges)."""
    entries = []
    pos = offset
    width = address_size
    size = len(data)
    try:
        while True:
            if pos >= size:
                raise TruncatedError("range list runs past the end of .debug_rnglists", path, offset)
            kind = data[pos]
            pos += 1
            if kind == DW_RLE.end_of_list:
                break
            if kind in (DW_RLE.base_addressx, ):
                v0, pos = read_uleb(data, pos)
                v1 = 0
            elif kind in (DW_RLE.startx_endx, DW_RLE.startx_length, DW_RLE.offset_pair):
                v0, pos = read_uleb(data, pos)
                v1, pos = read_uleb(data, pos)
            elif kind == DW_RLE.base_address:
                v0 = int.from_bytes(data[pos:pos + width], "little")
                v1 = 0
                pos += width
            elif kind == DW_RLE.start_end:
                v0 = int.from_bytes(data[pos:pos + width], "little")
                v1 = int.from_bytes(data[pos + width:pos + 2 * width], "little")
                pos += 2 * width
            elif kind == DW_RLE.start_length:
                v0 = int.from_bytes(data[pos:pos + width], "little")
                pos += width
                v1, pos = read_uleb(data, pos)
            else:
                raise FormatError(f"unknown range list entry kind {kind:#x}", path, pos - 1)
            if pos > size:
                raise TruncatedError("range list runs past the end of .debug_rnglists", path, offset)
            entries.append((kind, v0, v1))
            if len(entries) > MAX_ENTRIES:
                raise FormatError("range list too long", path, offset)
    except TruncatedError:
        raise TruncatedError("range list runs past the end of .debug_rnglists", path, offset) from None
    dead = tombstone(address_size)
    mask = (1 << 64) - 1
    out = []
    for kind, v0, v1 in entries:
        if kind == DW_RLE.base_addressx:
            found = lookup(v0)
            base = v0 if found is None else found
            continue
        if kind == DW_RLE.base_address:
            base = v0
            continue
        if kind == DW_RLE.offset_pair:
            low, high = v0, v1
            if base is not None:
                low = (low + base) & mask
                high = (high + base) & mask
        elif kind == DW_RLE.start_end:
            low, high = v0, v1
        elif kind == DW_RLE.start_length:
            low, high = v0, (v0 + v1) & mask
        elif kind == DW_RLE.startx_length:
            low = lookup(v0) or 0
            high = (low + v1) & mask
        else:  # startx_endx
            low = lookup(v0) or 0
            high = lookup(v1) or 0
        if low == dead:
            continue
        out.append((low, high))
    return out
