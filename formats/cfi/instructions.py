"""Call frame instructions decoded into typed records (operands raw: factors are applied by the table)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import FormatError, TruncatedError
from ..leb128 import read_sleb, read_uleb
from .constants import DW_CFA
from .parse import read_encoded

# Operand shapes: U uleb, S sleb, R uleb register, 1/2/4/8 fixed unsigned, E uleb-length expression, A address.
_SHAPES: dict[int, str] = {
    DW_CFA.nop: "", DW_CFA.set_loc: "A", DW_CFA.advance_loc1: "1", DW_CFA.advance_loc2: "2",
    DW_CFA.advance_loc4: "4", DW_CFA.offset_extended: "RU", DW_CFA.restore_extended: "R",
    DW_CFA.undefined: "R", DW_CFA.same_value: "R", DW_CFA.register: "RR", DW_CFA.remember_state: "",
    DW_CFA.restore_state: "", DW_CFA.def_cfa: "RU", DW_CFA.def_cfa_register: "R", DW_CFA.def_cfa_offset: "U",
    DW_CFA.def_cfa_expression: "E", DW_CFA.expression: "RE", DW_CFA.offset_extended_sf: "RS",
    DW_CFA.def_cfa_sf: "RS", DW_CFA.def_cfa_offset_sf: "S", DW_CFA.val_offset: "RU", DW_CFA.val_offset_sf: "RS",
    DW_CFA.val_expression: "RE", DW_CFA.MIPS_advance_loc8: "8", DW_CFA.GNU_window_save: "",
    DW_CFA.GNU_args_size: "U", DW_CFA.GNU_negative_offset_extended: "RU",
}
ADVANCES = frozenset({DW_CFA.advance_loc, DW_CFA.advance_loc1, DW_CFA.advance_loc2, DW_CFA.advance_loc4,
                      DW_CFA.MIPS_advance_loc8})


@dataclass(frozen=True, slots=True)
class Instruction:
    """One call frame instruction: `reg` is its register operand, `value` its number (delta, offset,
    second register or address, unfactored), `expr` its DWARF expression; `offset` where it starts."""

    op: DW_CFA
    reg: int = 0
    value: int = 0
    expr: bytes = b""
    offset: int = 0


def decode(data: bytes, base_offset: int = 0, *, fde_encoding: int = 0, address_size: int = 8,
           section_address: int = 0, path: str | None = None) -> list[Instruction]:
    """Decode every instruction in `data`, which starts at section offset `base_offset`.

    Raises FormatError naming the file and the instruction's section offset on an unknown
    opcode or an operand that runs past the end.
    """
    out: list[Instruction] = []
    pos, end = 0, len(data)
    append = out.append
    while pos < end:
        start = pos
        byte = data[pos]
        pos += 1
        high = byte & 0xC0
        if high:
            if high == 0x40:
                append(Instruction(DW_CFA.advance_loc, 0, byte & 0x3F, b"", base_offset + start))
            elif high == 0x80:
                try:
                    value, pos = read_uleb(data, pos)
                except TruncatedError:
                    raise TruncatedError("DW_CFA_offset operand runs past the end", path, base_offset + start) from None
                append(Instruction(DW_CFA.offset, byte & 0x3F, value, b"", base_offset + start))
            else:
                append(Instruction(DW_CFA.restore, byte & 0x3F, 0, b"", base_offset + start))
            continue
        shape = _SHAPES.get(byte)
        if shape is None:
            raise FormatError(f"unknown call frame instruction {byte:#04x}", path, base_offset + start)
        op = DW_CFA(byte)
        reg = value = 0
        expr = b""
        try:
            for n, kind in enumerate(shape):
                if kind == "R" and n == 0:
                    reg, pos = read_uleb(data, pos)
                elif kind == "R":  # DW_CFA_register's second register goes in value
                    value, pos = read_uleb(data, pos)
                elif kind == "U":
                    value, pos = read_uleb(data, pos)
                elif kind == "S":
                    value, pos = read_sleb(data, pos)
                elif kind == "E":
                    size, pos = read_uleb(data, pos)
                    if pos + size > end:
                        raise TruncatedError("expression runs past the end", path, base_offset + pos)
                    expr = bytes(data[pos:pos + size])
                    pos += size
                elif kind == "A":
                    location, after = read_encoded(data, pos, fde_encoding, address_size=address_size,
                                                   pc_base=section_address + base_offset, path=path)
                    if location is None:  # the CIE's pointer encoding is DW_EH_PE_omit: no location to set
                        raise FormatError("DW_CFA_set_loc under an omitted (0xff) pointer encoding", path,
                                          base_offset + start)
                    value, pos = location, after
                else:
                    size = int(kind)
                    if pos + size > end:
                        raise TruncatedError("operand runs past the end", path, base_offset + pos)
                    value = int.from_bytes(data[pos:pos + size], "little")
                    pos += size
        except TruncatedError:
            raise TruncatedError(f"operand of DW_CFA_{op.name} runs past the end", path, base_offset + start) from None
        append(Instruction(op, reg, value, expr, base_offset + start))
    return out


def referenced_registers(instructions: list[Instruction]) -> set[int]:
    """Registers whose rule the instructions set or restore (the columns readelf prints)."""
    return {i.reg for i in instructions if i.op in _REG_RULE_OPS}


_REG_RULE_OPS = frozenset({
    DW_CFA.offset, DW_CFA.restore, DW_CFA.offset_extended, DW_CFA.restore_extended, DW_CFA.undefined,
    DW_CFA.same_value, DW_CFA.register, DW_CFA.expression, DW_CFA.offset_extended_sf, DW_CFA.val_offset,
    DW_CFA.val_offset_sf, DW_CFA.val_expression, DW_CFA.GNU_negative_offset_extended,
})
