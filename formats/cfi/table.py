"""CFA/register rule rows of one CIE or FDE, interpreted exactly as readelf's frames-interp does.

A row is emitted at every location change (before it takes effect) and once at the end, unless
the entry holds nothing but DW_CFA_nop; `effective_rows` gives the unwinder's view (one state per
address range, the CIE's state for an FDE without instructions).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum

from ..errors import FormatError
from .constants import DW_CFA
from .instructions import Instruction, decode, referenced_registers
from .parse import MASK64, Cie, CfiSection, Fde, Terminator


class RuleKind(IntEnum):
    UNDEFINED = 0
    SAME_VALUE = 1
    OFFSET = 2  # saved at cfa + value
    VAL_OFFSET = 3  # value is cfa + value
    REGISTER = 4  # value is in register `value`
    EXPRESSION = 5  # saved at the address `expr` computes
    VAL_EXPRESSION = 6  # value is what `expr` computes
    UNSPECIFIED = 7  # no rule yet (readelf prints "u" too); unwinders keep callee-saved registers




RegState = tuple[RuleKind, int, bytes]  # (RuleKind, value, expr bytes)
_UNDEF: RegState = (RuleKind.UNDEFINED, 0, b"")
_UNSPEC: RegState = (RuleKind.UNSPECIFIED, 0, b"")
MISMATCHED_RESTORE = "Mismatched DW_CFA_restore_state"


@dataclass(frozen=True, slots=True)
class Row:
    """The rules in force from `loc` on: CFA = cfa_reg + cfa_offset (or cfa_expr), and each column's rule."""

    loc: int
    cfa_reg: int
    cfa_offset: int
    cfa_expr: bytes | None
    regs: tuple[tuple[int, RegState], ...]


@dataclass(frozen=True, slots=True)
class Table:
    """An entry's interpreted rows; `lines` interleaves rows with readelf's in-line messages."""

    entry: Cie | Fde
    columns: tuple[int, ...]
    ra_register: int
    lines: tuple[Row | str, ...]
    initial: Row
    final: Row

    @property
    def rows(self) -> tuple[Row, ...]:
        return tuple(r for r in self.lines if isinstance(r, Row))

    def effective_rows(self) -> tuple[Row, ...]:
        """One row per distinct location (the last one wins), never empty: what unwinding uses."""
        rows = self.rows or (self.initial,)
        out: list[Row] = []
        for row in rows:
            if out and out[-1].loc == row.loc:
                out[-1] = row
            else:
                out.append(row)
        return tuple(out)


def _s32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def _instructions(section: CfiSection, entry: Cie | Fde) -> list[Instruction]:
    cie = entry if isinstance(entry, Cie) else entry.cie
    return decode(entry.instructions, entry.instructions_offset,
                  fde_encoding=cie.fde_encoding if cie else 0,
                  address_size=cie.address_size if cie else section.address_size,
                  section_address=section.address, path=section.path)


def interpret(section: CfiSection, entry: Cie | Fde, cie_table: Table | None = None) -> Table:
    """The rows of `entry`; an FDE starts from its CIE's final state (`cie_table`, computed when absent)."""
    instructions = _instructions(section, entry)
    cie: Cie | None
    if isinstance(entry, Cie):
        cie, start = entry, None
        loc = 0
    else:
        cie = entry.cie
        loc = entry.pc_begin
        if cie is not None and cie_table is None:
            cie_table = interpret(section, cie)
        start = cie_table.final if cie_table else None
    code_align = cie.code_align if cie else 1
    data_align = cie.data_align if cie else 1
    ra = cie.ra_register if cie else 0
    if start is not None:
        cfa_reg, cfa_offset, cfa_expr = start.cfa_reg, start.cfa_offset, start.cfa_expr
        cols: dict[int, RegState] = dict(start.regs)
    else:
        cfa_reg, cfa_offset, cfa_expr = 0, 0, None
        cols = {}
    cie_cols = dict(start.regs) if start is not None else None
    for reg in referenced_registers(instructions):
        cols.setdefault(reg, _UNSPEC)
    columns = tuple(sorted(cols))
    initial = Row(loc, cfa_reg, cfa_offset, cfa_expr, tuple(sorted(cols.items())))
    lines: list[Row | str] = []
    remembered: list[tuple[int, int, bytes | None, dict[int, RegState]]] = []
    all_nops = True

    def snapshot() -> Row:
        return Row(loc, cfa_reg, cfa_offset, cfa_expr, tuple(sorted(cols.items())))

    for ins in instructions:
        op = ins.op
        if op != DW_CFA.nop:
            all_nops = False
        if op in (DW_CFA.advance_loc, DW_CFA.advance_loc1, DW_CFA.advance_loc2, DW_CFA.advance_loc4,
                  DW_CFA.MIPS_advance_loc8):
            lines.append(snapshot())
            loc = (loc + ins.value * code_align) & MASK64
        elif op == DW_CFA.set_loc:
            lines.append(snapshot())
            loc = ins.value
        elif op in (DW_CFA.offset, DW_CFA.offset_extended, DW_CFA.offset_extended_sf):
            cols[ins.reg] = (RuleKind.OFFSET, _s32(ins.value * data_align), b"")
        elif op in (DW_CFA.val_offset, DW_CFA.val_offset_sf):
            cols[ins.reg] = (RuleKind.VAL_OFFSET, _s32(ins.value * data_align), b"")
        elif op == DW_CFA.GNU_negative_offset_extended:
            cols[ins.reg] = (RuleKind.OFFSET, _s32(-ins.value * data_align), b"")
        elif op in (DW_CFA.restore, DW_CFA.restore_extended):
            if cie_cols is not None:
                cols[ins.reg] = cie_cols.get(ins.reg, _UNSPEC)
        elif op == DW_CFA.undefined:
            cols[ins.reg] = _UNDEF
        elif op == DW_CFA.same_value:
            cols[ins.reg] = (RuleKind.SAME_VALUE, 0, b"")
        elif op == DW_CFA.register:
            cols[ins.reg] = (RuleKind.REGISTER, _s32(ins.value), b"")
        elif op in (DW_CFA.expression, DW_CFA.val_expression):
            kind = RuleKind.EXPRESSION if op == DW_CFA.expression else RuleKind.VAL_EXPRESSION
            cols[ins.reg] = (kind, cols[ins.reg][1], ins.expr)
        elif op == DW_CFA.remember_state:
            remembered.append((cfa_reg, cfa_offset, cfa_expr, dict(cols)))
        elif op == DW_CFA.restore_state:
            if remembered:
                cfa_reg, cfa_offset, cfa_expr, cols = remembered.pop()
            else:
                lines.append(MISMATCHED_RESTORE)
        elif op == DW_CFA.def_cfa:
            cfa_reg, cfa_offset, cfa_expr = ins.reg, ins.value, None
        elif op == DW_CFA.def_cfa_sf:
            cfa_reg, cfa_offset, cfa_expr = ins.reg, ins.value * data_align, None
        elif op == DW_CFA.def_cfa_register:
            cfa_reg, cfa_expr = ins.reg, None
        elif op == DW_CFA.def_cfa_offset:
            cfa_offset = ins.value
        elif op == DW_CFA.def_cfa_offset_sf:
            cfa_offset = ins.value * data_align
        elif op == DW_CFA.def_cfa_expression:
            cfa_expr = ins.expr
    final = snapshot()
    if not all_nops:
        lines.append(final)
    return Table(entry, columns, ra, tuple(lines), initial, final)


def tables(section: CfiSection) -> Iterator[tuple[Cie | Fde | Terminator, Table | FormatError | None]]:
    """(entry, Table or FormatError) for every CIE and FDE of the section, in order; terminators as (entry, None)."""
    cie_tables: dict[int, Table | FormatError] = {}
    for entry in section:
        result: Table | FormatError | None
        if isinstance(entry, Cie):
            try:
                cie_result: Table | FormatError = interpret(section, entry)
            except FormatError as exc:
                cie_result = exc
            cie_tables[entry.offset] = result = cie_result
        elif isinstance(entry, Fde):
            found = cie_tables.get(entry.cie.offset) if entry.cie else None
            try:
                result = interpret(section, entry, None if isinstance(found, FormatError) else found)
            except FormatError as exc:
                result = exc
        else:
            result = None
        yield entry, result
