"""CFI and DWARF expression constants: call-frame instructions, expression opcodes, pointer encodings."""

from __future__ import annotations

from enum import IntEnum


class DW_CFA(IntEnum):
    """Call frame instructions (DWARF 5 section 6.4.2, plus the GNU and MIPS extensions readelf knows)."""

    advance_loc = 0x40  # high two bits; low six bits are the delta
    offset = 0x80
    restore = 0xC0
    nop = 0x00
    set_loc = 0x01
    advance_loc1 = 0x02
    advance_loc2 = 0x03
    advance_loc4 = 0x04
    offset_extended = 0x05
    restore_extended = 0x06
    undefined = 0x07
    same_value = 0x08
    register = 0x09
    remember_state = 0x0A
    restore_state = 0x0B
    def_cfa = 0x0C
    def_cfa_register = 0x0D
    def_cfa_offset = 0x0E
    def_cfa_expression = 0x0F
    expression = 0x10
    offset_extended_sf = 0x11
    def_cfa_sf = 0x12
    def_cfa_offset_sf = 0x13
    val_offset = 0x14
    val_offset_sf = 0x15
    val_expression = 0x16
    MIPS_advance_loc8 = 0x1D
    GNU_window_save = 0x2D
    GNU_args_size = 0x2E
    GNU_negative_offset_extended = 0x2F


class DW_EH_PE(IntEnum):
    """Pointer encodings of .eh_frame and .eh_frame_hdr (LSB 4.1, Exception Frames)."""

    absptr = 0x00
    uleb128 = 0x01
    udata2 = 0x02
    udata4 = 0x03
    udata8 = 0x04
    sleb128 = 0x09
    sdata2 = 0x0A
    sdata4 = 0x0B
    sdata8 = 0x0C
    signed = 0x08
    # application (high nibble)
    pcrel = 0x10
    textrel = 0x20
    datarel = 0x30
    funcrel = 0x40
    aligned = 0x50
    indirect = 0x80
    omit = 0xFF


class DW_OP(IntEnum):
    """DWARF expression opcodes (DWARF 5 section 2.5 and 7.7.1, plus the GNU extensions)."""

    addr = 0x03
    deref = 0x06
    const1u = 0x08
    const1s = 0x09
    const2u = 0x0A
    const2s = 0x0B
    const4u = 0x0C
    const4s = 0x0D
    const8u = 0x0E
    const8s = 0x0F
    constu = 0x10
    consts = 0x11
    dup = 0x12
    drop = 0x13
    over = 0x14
    pick = 0x15
    swap = 0x16
    rot = 0x17
    xderef = 0x18
    abs = 0x19
    and_ = 0x1A
    div = 0x1B
    minus = 0x1C
    mod = 0x1D
    mul = 0x1E
    neg = 0x1F
    not_ = 0x20
    or_ = 0x21
    plus = 0x22
    plus_uconst = 0x23
    shl = 0x24
    shr = 0x25
    shra = 0x26
    xor = 0x27
    bra = 0x28
    eq = 0x29
    ge = 0x2A
    gt = 0x2B
    le = 0x2C
    lt = 0x2D
    ne = 0x2E
    skip = 0x2F
    lit0 = 0x30  # .. lit31 = 0x4f
    reg0 = 0x50  # .. reg31 = 0x6f
    breg0 = 0x70  # .. breg31 = 0x8f
    regx = 0x90
    fbreg = 0x91
    bregx = 0x92
    piece = 0x93
    deref_size = 0x94
    xderef_size = 0x95
    nop = 0x96
    push_object_address = 0x97
    call2 = 0x98
    call4 = 0x99
    call_ref = 0x9A
    form_tls_address = 0x9B
    call_frame_cfa = 0x9C
    bit_piece = 0x9D
    implicit_value = 0x9E
    stack_value = 0x9F
    GNU_push_tls_address = 0xE0
    GNU_uninit = 0xF0
    GNU_encoded_addr = 0xF1
    GNU_entry_value = 0xF3


_DW_OP_NAMES = {int(op): op.name.rstrip("_") for op in DW_OP}  # DW_OP_and, not DW_OP_and_

# DW_OP names as readelf prints them (DW_OP_and, not DW_OP_and_).
def op_name(op: int) -> str:
    """`DW_OP_lit3`, `DW_OP_breg7 (rsp)`-style base names for an opcode byte."""
    if 0x30 <= op <= 0x4F:
        return f"DW_OP_lit{op - 0x30}"
    if 0x50 <= op <= 0x6F:
        return f"DW_OP_reg{op - 0x50}"
    if 0x70 <= op <= 0x8F:
        return f"DW_OP_breg{op - 0x70}"
    known = _DW_OP_NAMES.get(op)
    return f"DW_OP_<unknown {op:#x}>" if known is None else "DW_OP_" + known
