"""Attribute form sizes and values: how many bytes a form takes, and what integer or bytes it holds."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import FormatError, TruncatedError
from ..leb128 import read_sleb, read_uleb
from .constants import DW_FORM

# How a form of non-constant size is stepped over (the code in a skip plan).
SKIP_LEB = 1  # one LEB128 (udata, sdata, strx, addrx, rnglistx, ...)
SKIP_STRING = 2  # NUL-terminated inline string
SKIP_BLOCK = 3  # ULEB128 length + bytes (block, exprloc)
SKIP_BLOCK1 = 4
SKIP_BLOCK2 = 5
SKIP_BLOCK4 = 6
SKIP_INDIRECT = 7  # ULEB128 form code, then a value of that form

_FIXED: dict[int, int] = {  # form -> size, keyed by int so a raw form code looks up without conversion
    DW_FORM.data1: 1, DW_FORM.ref1: 1, DW_FORM.flag: 1, DW_FORM.strx1: 1, DW_FORM.addrx1: 1,
    DW_FORM.data2: 2, DW_FORM.ref2: 2, DW_FORM.strx2: 2, DW_FORM.addrx2: 2,
    DW_FORM.strx3: 3, DW_FORM.addrx3: 3,
    DW_FORM.data4: 4, DW_FORM.ref4: 4, DW_FORM.strx4: 4, DW_FORM.addrx4: 4, DW_FORM.ref_sup4: 4,
    DW_FORM.data8: 8, DW_FORM.ref8: 8, DW_FORM.ref_sig8: 8, DW_FORM.ref_sup8: 8,
    DW_FORM.data16: 16,
    DW_FORM.flag_present: 0, DW_FORM.implicit_const: 0,
}
_OFFSET_SIZED = frozenset({
    DW_FORM.strp, DW_FORM.line_strp, DW_FORM.sec_offset, DW_FORM.strp_sup,
    DW_FORM.GNU_ref_alt, DW_FORM.GNU_strp_alt,
})
_VARIABLE: dict[int, int] = {
    DW_FORM.udata: SKIP_LEB, DW_FORM.sdata: SKIP_LEB, DW_FORM.ref_udata: SKIP_LEB,
    DW_FORM.strx: SKIP_LEB, DW_FORM.addrx: SKIP_LEB, DW_FORM.loclistx: SKIP_LEB,
    DW_FORM.rnglistx: SKIP_LEB, DW_FORM.GNU_addr_index: SKIP_LEB, DW_FORM.GNU_str_index: SKIP_LEB,
    DW_FORM.string: SKIP_STRING,
    DW_FORM.block: SKIP_BLOCK, DW_FORM.exprloc: SKIP_BLOCK,
    DW_FORM.block1: SKIP_BLOCK1, DW_FORM.block2: SKIP_BLOCK2, DW_FORM.block4: SKIP_BLOCK4,
    DW_FORM.indirect: SKIP_INDIRECT,
}
# Forms whose value is an offset from the start of the unit (DW_FORM_ref*).
UNIT_REF_FORMS = frozenset({DW_FORM.ref1, DW_FORM.ref2, DW_FORM.ref4, DW_FORM.ref8, DW_FORM.ref_udata})
STRX_FORMS = frozenset({DW_FORM.strx, DW_FORM.strx1, DW_FORM.strx2, DW_FORM.strx3, DW_FORM.strx4,
                        DW_FORM.GNU_str_index})
ADDRX_FORMS = frozenset({DW_FORM.addrx, DW_FORM.addrx1, DW_FORM.addrx2, DW_FORM.addrx3, DW_FORM.addrx4,
                         DW_FORM.GNU_addr_index})
BLOCK_FORMS = frozenset({DW_FORM.block, DW_FORM.block1, DW_FORM.block2, DW_FORM.block4, DW_FORM.exprloc})


@dataclass(frozen=True, slots=True)
class UnitEncoding:
    """What form sizes depend on: DWARF version, address size, 4- or 8-byte offsets."""

    version: int
    address_size: int
    offset_size: int


def fixed_size(form: int, enc: UnitEncoding) -> int | None:
    """Byte size of `form` when it is constant for this unit encoding, else None."""
    size = _FIXED.get(form)
    if size is not None:
        return size
    if form == DW_FORM.addr:
        return enc.address_size
    if form == DW_FORM.ref_addr:
        return enc.address_size if enc.version <= 2 else enc.offset_size
    if form in _OFFSET_SIZED:
        return enc.offset_size
    return None


def skip_kind(form: int) -> int:
    """How to step over a variable-size form (a SKIP_* code); FormatError for an unknown form."""
    kind = _VARIABLE.get(form)
    if kind is None:
        raise FormatError(f"unknown attribute form {form:#x}")
    return kind


def skip_value(data: bytes, pos: int, form: int, enc: UnitEncoding) -> int:
    """Position just after a value of `form` at `pos`."""
    size = fixed_size(form, enc)
    if size is not None:
        return pos + size
    kind = skip_kind(form)
    if kind == SKIP_LEB:
        while data[pos] & 0x80:
            pos += 1
        return pos + 1
    if kind == SKIP_STRING:
        return _string_end(data, pos) + 1
    if kind == SKIP_BLOCK:
        length, pos = read_uleb(data, pos)
        return pos + length
    if kind == SKIP_BLOCK1:
        return pos + 1 + data[pos]
    if kind == SKIP_BLOCK2:
        return pos + 2 + int.from_bytes(data[pos:pos + 2], "little")
    if kind == SKIP_BLOCK4:
        return pos + 4 + int.from_bytes(data[pos:pos + 4], "little")
    form, pos = read_uleb(data, pos)
    if form == DW_FORM.indirect:
        raise FormatError("DW_FORM_indirect names itself")
    return skip_value(data, pos, form, enc)


def read_value(data: bytes, pos: int, form: int, enc: UnitEncoding) -> tuple[int | bytes, int, int]:
    """Decode one value: (int for numbers/offsets/indexes/references, bytes for blocks and strings), next pos, form.

    The form comes back because DW_FORM_indirect names the real one in the data.
    """
    size = fixed_size(form, enc)
    if size is not None:
        if form == DW_FORM.data16:
            return data[pos:pos + 16], pos + 16, form
        end = pos + size
        if end > len(data):
            raise TruncatedError("value runs past the end of the section")
        return int.from_bytes(data[pos:end], "little"), end, form
    if form == DW_FORM.sdata:
        value, pos = read_sleb(data, pos)
        return value, pos, form
    kind = skip_kind(form)
    if kind == SKIP_LEB:
        value, pos = read_uleb(data, pos)
        return value, pos, form
    if kind == SKIP_STRING:
        end = _string_end(data, pos)
        return data[pos:end], end + 1, form
    if kind == SKIP_INDIRECT:
        real, pos = read_uleb(data, pos)
        if real == DW_FORM.indirect:
            raise FormatError("DW_FORM_indirect names itself")
        return read_value(data, pos, real, enc)
    if kind == SKIP_BLOCK:
        length, pos = read_uleb(data, pos)
    else:
        width = {SKIP_BLOCK1: 1, SKIP_BLOCK2: 2, SKIP_BLOCK4: 4}[kind]
        length = int.from_bytes(data[pos:pos + width], "little")
        pos += width
    if pos + length > len(data):
        raise TruncatedError("block runs past the end of the section")
    return data[pos:pos + length], pos + length, form


def _string_end(data: bytes, pos: int) -> int:
    """Offset of the NUL ending the DW_FORM_string at `pos`; TruncatedError when the section ends first."""
    end = data.find(0, pos)
    if end < 0:
        raise TruncatedError("DW_FORM_string has no terminating NUL", None, pos)
    return end
