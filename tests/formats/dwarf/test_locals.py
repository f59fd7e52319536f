"""Frame offsets and location lists as LLVM 14 reads them for FRAME answers (hand-assembled bytes)."""

from __future__ import annotations

import pytest

from formats.dwarf.locals import expression_frame_offset
from formats.dwarf.loclists import debug_loc_expressions, loclists_expressions
from formats.errors import FormatError


@pytest.mark.parametrize("expression, frame_reg, expected", [
    (bytes([0x91, 0x6C]), None, -20),  # DW_OP_fbreg -20
    (bytes([0x91, 0x6C, 0x06]), None, -20),  # DW_OP_fbreg -20; DW_OP_deref (Fortran arrays)
    (bytes([0x91, 0x6C, 0x06, 0x06]), None, None),  # a second operation: not a frame slot
    (bytes([0x91, 0x6C, 0x9F]), None, None),  # DW_OP_fbreg -20; DW_OP_stack_value
    (bytes([0x77, 0x08]), 7, 8),  # DW_OP_breg7 +8 where the frame base is DW_OP_reg7
    (bytes([0x77, 0x08]), 6, None),  # DW_OP_breg7 +8 where the frame base is DW_OP_reg6
    (bytes([0x91]), None, 0),  # no operand: LLVM's decodeSLEB128 reads 0 bytes and gives 0
    (bytes([0x91, 0x80]), None, 0),  # operand cut short: LLVM counts the byte it read and gives 0
    (bytes([0x91, 0x80, 0x7F]), None, -128),  # two-byte SLEB128
    (b"", None, None),
])
def test_expression_frame_offset(expression, frame_reg, expected):
    assert expression_frame_offset(expression, frame_reg) == expected


def test_debug_loc_lists():
    entry = (0x10).to_bytes(8, "little") + (0x20).to_bytes(8, "little") + b"\x02\x00" + bytes([0x91, 0x68])
    base = (2**64 - 1).to_bytes(8, "little") + (0x1000).to_bytes(8, "little")  # base address selection
    end = bytes(16)
    assert debug_loc_expressions(entry + base + entry + end, 0, 8, 0) == [bytes([0x91, 0x68])] * 2
    with pytest.raises(FormatError):  # offset pairs with no base address: LLVM fails the whole list
        debug_loc_expressions(entry + end, 0, 8, None)
    with pytest.raises(FormatError):  # runs out before the end-of-list entry
        debug_loc_expressions(entry, 0, 8, 0)


def test_loclists():
    lookup = {0: 0x1000}.get
    data = bytes([
        0x03, 0x00, 0x10, 0x01, 0x50,  # DW_LLE_startx_length slot 0, length 16: DW_OP_reg0
        0x04, 0x00, 0x08, 0x02, 0x91, 0x70,  # DW_LLE_offset_pair 0..8: DW_OP_fbreg -16
        0x05, 0x01, 0x30,  # DW_LLE_default_location: DW_OP_lit0
        0x00,  # DW_LLE_end_of_list
    ])
    assert loclists_expressions(data, 0, 5, 8, 0x1000, lookup) == [b"\x50", b"\x91\x70", b"\x30"]
    with pytest.raises(FormatError):  # address slot 1 is not in .debug_addr
        loclists_expressions(bytes([0x03, 0x01, 0x10, 0x01, 0x50, 0x00]), 0, 5, 8, 0, lookup)
    with pytest.raises(FormatError):  # an entry kind LLVM 14 does not know
        loclists_expressions(bytes([0x09, 0x00]), 0, 5, 8, 0, lookup)
