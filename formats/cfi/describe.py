"""Pure functions rendering CFI the way `readelf --debug-dump=frames-interp` (binutils 2.40) prints it."""

from __future__ import annotations

from typing import Iterable, Iterator

from ..errors import FormatError
from .parse import Cie, CfiSection, Fde, Terminator
from .table import RegState, Row, RuleKind, Table, tables

# binutils dwarf.c dwarf_regnames_x86_64; None where the table has a hole.
_X86_64 = (
    ["rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp"] + [f"r{i}" for i in range(8, 16)] + ["rip"]
    + [f"xmm{i}" for i in range(16)] + [f"st{i}" for i in range(8)] + [f"mm{i}" for i in range(8)]
    + ["rflags", "es", "cs", "ss", "ds", "fs", "gs", None, None, "fs.base", "gs.base", None, None, "tr", "ldtr",
       "mxcsr", "fcw", "fsw"] + [f"xmm{i}" for i in range(16, 32)] + [None] * 35 + [f"k{i}" for i in range(8)]
)


def regname(reg: int, name_only: bool = True) -> str:
    """`rbx` (name_only) or `r3 (rbx)`; `r200` for registers without a name, as readelf's regname."""
    name = _X86_64[reg] if 0 <= reg < len(_X86_64) else None
    if name is None:
        return f"r{reg}"
    return name if name_only else f"r{reg} ({name})"


def _hex(value: int, size: int) -> str:
    return f"{value & ((1 << (8 * size)) - 1):0{2 * size}x}"


def describe_intro(name: str, loaded_from: str | None) -> str:
    suffix = f" (loaded from {loaded_from})" if loaded_from else ""
    return f"Contents of the {name} section{suffix}:\n\n"


def describe_cie(cie: Cie) -> str:
    return (f"\n{cie.offset:08x} {_hex(cie.length, cie.address_size)} {_hex(cie.cie_id, cie.offset_size)} "
            f'CIE "{cie.augmentation}" cf={_s32(cie.code_align)} df={_s32(cie.data_align)} '
            f'ra={_s32(cie.ra_register)}\n')


def describe_fde(fde: Fde, section: CfiSection) -> str:
    size = fde.cie.address_size if fde.cie else section.address_size
    cie = f"cie={fde.cie.offset:08x}" if fde.cie else "cie=invalid "
    seg = f"{fde.segment_selector:04x}:" if fde.cie and fde.cie.segment_size else ""
    return (f"\n{fde.offset:08x} {_hex(fde.length, size)} {_hex(fde.cie_id, fde.offset_size)} FDE {cie} "
            f"pc={seg}{_hex(fde.pc_begin, size)}..{_hex(fde.pc_end, size)}\n")


def describe_column_header(columns: Iterable[int], ra: int, address_size: int = 8) -> str:
    head = f"{'   LOC':<{2 * address_size}} CFA      "
    return head + "".join("ra    " if r == ra else f"{regname(r):<5} " for r in columns) + "\n"


def describe_rule(state: RegState) -> str:
    kind, value, _ = state
    if kind == RuleKind.UNDEFINED or kind == RuleKind.UNSPECIFIED:
        return "u"
    if kind == RuleKind.SAME_VALUE:
        return "s"
    if kind == RuleKind.OFFSET:
        return f"c{value:+d}"
    if kind == RuleKind.VAL_OFFSET:
        return f"v{value:+d}"
    if kind == RuleKind.REGISTER:
        return regname(value & 0xFFFFFFFF, False)
    return "exp" if kind == RuleKind.EXPRESSION else "vexp"


def describe_cfa(row: Row) -> str:
    if row.cfa_expr is not None:
        return "exp"
    return f"{regname(row.cfa_reg & 0xFFFFFFFF)}{_s32(row.cfa_offset):+d}"


def describe_row(row: Row, address_size: int = 8) -> str:
    cells = "".join(f"{describe_rule(state):<5} " for _, state in row.regs)
    return f"{_hex(row.loc, address_size)} {describe_cfa(row):<8} {cells}\n"


def describe_table(table: Table, address_size: int = 8) -> str:
    out = []
    need_header = True
    for line in table.lines:
        if isinstance(line, str):
            out.append(line + "\n")
            continue
        if need_header:
            out.append(describe_column_header(table.columns, table.ra_register, address_size))
            need_header = False
        out.append(describe_row(line, address_size))
    return "".join(out)


def describe_section(section: CfiSection, loaded_from: str | None = None) -> Iterator[str]:
    """The whole frames-interp text of one section, chunk by chunk; a corrupt entry raises FormatError."""
    yield describe_intro(section.name, loaded_from)
    for entry, table in tables(section):
        if isinstance(entry, Terminator):
            yield f"\n{entry.offset:08x} ZERO terminator\n\n"
            continue
        if isinstance(table, FormatError):
            raise table
        assert table is not None  # tables() leaves out only a terminator's table
        if isinstance(entry, Cie):
            yield describe_cie(entry)
            size = entry.address_size
        else:
            yield describe_fde(entry, section)
            size = entry.cie.address_size if entry.cie else section.address_size
        yield describe_table(table, size)
    yield "\n"


def _s32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def section_to_json(section: CfiSection, loaded_from: str) -> dict[str, object]:
    """{"name", "file", "entries": [...]}; an entry that fails to decode carries "error" instead of rows."""
    entries = []
    for entry, table in tables(section):
        if isinstance(entry, Terminator):
            entries.append({"type": "terminator", "offset": entry.offset})
            continue
        item: dict[str, object] = {"offset": entry.offset, "length": entry.length}
        if isinstance(entry, Cie):
            item.update(type="CIE", version=entry.version, augmentation=entry.augmentation,
                        code_align=entry.code_align, data_align=entry.data_align, ra=entry.ra_register,
                        signal_frame=entry.signal_frame)
        else:
            assert isinstance(entry, Fde)
            item.update(type="FDE", cie=entry.cie.offset if entry.cie else None,
                        pc_begin=hex(entry.pc_begin), pc_end=hex(entry.pc_end))
        if isinstance(table, FormatError):
            item["error"] = str(table)
        elif table is not None:  # tables() leaves out only a terminator's table
            ra = table.ra_register
            item["columns"] = ["ra" if r == ra else regname(r) for r in table.columns]
            item["rows"] = [{"loc": hex(row.loc), "cfa": describe_cfa(row),
                             "regs": {("ra" if r == ra else regname(r)): describe_rule(s) for r, s in row.regs}}
                            for row in table.rows]
        entries.append(item)
    return {"name": section.name, "file": loaded_from, "entries": entries}
