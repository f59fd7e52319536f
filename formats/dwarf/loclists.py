"""Location lists (.debug_loc for DWARF 2-4, .debug_loclists for DWARF 5): the expressions of one list.

LLVM 14's DWARFDie::getLocations reads a list through DWARFLocationTable::visitAbsoluteLocationList:
every entry that carries an expression yields it, in order; a list that cannot be read to its end
(truncated, an unknown entry kind, an offset pair with no base address, an address index outside
.debug_addr) is an error as a whole.  Only the expressions matter to llvm-symbolizer's FRAME
answers, so the ranges are checked as LLVM checks them and then dropped.
"""

from __future__ import annotations

from typing import Callable

from ..errors import FormatError, TruncatedError
from ..leb128 import read_uleb
from .constants import DW_LLE

# Returns the address in .debug_addr slot `index`, or None when there is no such slot.
AddressLookup = Callable[[int], "int | None"]

MAX_ENTRIES = 1 << 20  # a longer list is corrupt (bounds the walk on garbage)


def loclist_offset(data: bytes, loclists_base: int, index: int, offset_size: int) -> int | None:
    """Section offset of location list `index` of a unit (DW_FORM_loclistx), None when outside the section."""
    pos = loclists_base + index * offset_size
    if pos + offset_size > len(data):
        return None
    return loclists_base + int.from_bytes(data[pos:pos + offset_size], "little")


def debug_loc_expressions(data: bytes, offset: int, address_size: int, base: int | None,
                          path: str | None = None) -> list[bytes]:
    """Expressions of the DWARF 2-4 list at `offset` (LLVM DWARFDebugLoc::visitLocationList)."""
    width = address_size
    all_ones = (1 << 8 * width) - 1
    out: list[bytes] = []
    pos = offset
    for _ in range(MAX_ENTRIES):
        if pos + 2 * width > len(data):
            raise TruncatedError("location list runs past the end of .debug_loc", path, offset)
        start = int.from_bytes(data[pos:pos + width], "little")
        end = int.from_bytes(data[pos + width:pos + 2 * width], "little")
        pos += 2 * width
        if start == 0 and end == 0:
            return out
        if start == all_ones:
            base = end
            continue
        if pos + 2 > len(data):
            raise TruncatedError("location list runs past the end of .debug_loc", path, offset)
        length = int.from_bytes(data[pos:pos + 2], "little")
        pos += 2
        if pos + length > len(data):
            raise TruncatedError("location expression runs past the end of .debug_loc", path, offset)
        if base is None:
            raise FormatError("Unable to resolve location list offset pair: Base address not defined", path, offset)
        out.append(bytes(data[pos:pos + length]))
        pos += length
    raise FormatError("location list too long", path, offset)


def loclists_expressions(data: bytes, offset: int, version: int, address_size: int, base: int | None,
                         lookup: AddressLookup, path: str | None = None) -> list[bytes]:
    """Expressions of the DWARF 5 list at `offset` (LLVM DWARFDebugLoclists::visitLocationList + Interpret).

    `version` < 5 is the pre-standard .debug_loc.dwo flavour (32-bit lengths).
    """
    width = address_size
    size = len(data)
    out: list[bytes] = []
    pos = offset

    def uleb() -> int:
        nonlocal pos
        value, pos = read_uleb(data, pos)
        return value

    def address() -> int:
        nonlocal pos
        if pos + width > size:
            raise TruncatedError("location list runs past the end of .debug_loclists", path, offset)
        value = int.from_bytes(data[pos:pos + width], "little")
        pos += width
        return value

    def resolve(index: int, kind: int) -> int:
        found = lookup(index)
        if found is None:
            raise FormatError(f"unable to resolve indirect address {index} for: {DW_LLE(kind).name}", path, offset)
        return found

    try:
        for _ in range(MAX_ENTRIES):
            if pos >= size:
                raise TruncatedError("location list runs past the end of .debug_loclists", path, offset)
            kind = data[pos]
            pos += 1
            if kind == DW_LLE.end_of_list:
                return out
            if kind == DW_LLE.base_addressx:
                base = resolve(uleb(), kind)
                continue
            if kind == DW_LLE.base_address:
                base = address()
                continue
            if kind == DW_LLE.startx_endx:
                first, second = uleb(), uleb()
                resolve(first, kind)
                resolve(second, kind)
            elif kind == DW_LLE.startx_length:
                first = uleb()
                if version < 5:
                    if pos + 4 > size:
                        raise TruncatedError("location list runs past the end", path, offset)
                    pos += 4
                else:
                    uleb()
                resolve(first, kind)
            elif kind == DW_LLE.offset_pair:
                uleb()
                uleb()
                if base is None:
                    raise FormatError("Unable to resolve location list offset pair: Base address not defined",
                                      path, offset)
            elif kind == DW_LLE.default_location:
                pass
            elif kind == DW_LLE.start_end:
                address()
                address()
            elif kind == DW_LLE.start_length:
                address()
                uleb()
            else:
                raise FormatError(f"LLE of kind {kind:x} not supported", path, pos - 1)
            if version >= 5:
                length = uleb()
            else:
                if pos + 2 > size:
                    raise TruncatedError("location list runs past the end", path, offset)
                length = int.from_bytes(data[pos:pos + 2], "little")
                pos += 2
            if pos + length > size:
                raise TruncatedError("location expression runs past the end of .debug_loclists", path, offset)
            out.append(bytes(data[pos:pos + length]))
            pos += length
    except TruncatedError:
        raise TruncatedError("location list runs past the end of .debug_loclists", path, offset) from None
    raise FormatError("location list too long", path, offset)
