"""ORC rows as `objtool --dump=orc` prints them (tools/objtool/orc_dump.c, arch/x86/orc.c) for each layout.

<= 6.2:  `.text+52: sp:sp+8 bp:(und) type:call end:0`
   6.3:  `.text+52: sp:sp+8 bp:(und) type:call signal:0 end:0`
>= 6.4:  `.text+52:type:call sp:sp+8 bp:(und) signal:0`
Linked files print the address in hex without `0x` instead of `symbol+addend`.
"""

from __future__ import annotations

from typing import Iterator

from .entry import OrcEntry, OrcLayout, OrcReg
from .table import MASK, OrcRow, OrcTable

_REG_NAMES: dict[int, str] = {
    OrcReg.PREV_SP: "prevsp", OrcReg.DX: "dx", OrcReg.DI: "di", OrcReg.BP: "bp", OrcReg.SP: "sp",
    OrcReg.R10: "r10", OrcReg.R13: "r13", OrcReg.BP_INDIRECT: "bp(ind)", OrcReg.SP_INDIRECT: "sp(ind)",
}
_OLD_TYPE_NAMES = {0: "call", 1: "regs", 2: "regs (partial)"}
_NEW_TYPE_NAMES = {0: "(und)", 1: "end", 2: "call", 3: "regs", 4: "regs (partial)"}


def describe_reg(reg: int, offset: int) -> str:
    """objtool's print_reg: `sp+8`, `(bp-40)` (load at bp-40), `(sp)+8` (load at sp, add 8), `(und)`."""
    if reg == OrcReg.BP_INDIRECT:
        return f"(bp{offset:+d})"
    if reg == OrcReg.SP_INDIRECT:
        return f"(sp){offset:+d}"
    if reg == OrcReg.UNDEFINED:
        return "(und)"
    return f"{_REG_NAMES.get(reg, '?')}{offset:+d}"


def describe_type(entry: OrcEntry) -> str:
    names = _NEW_TYPE_NAMES if entry.layout == OrcLayout.V6_4 else _OLD_TYPE_NAMES
    return names.get(entry.type, "?")


def describe_entry(entry: OrcEntry) -> str:
    """Everything objtool prints after the location and its colon."""
    sp = describe_reg(entry.sp_reg, entry.sp_offset)
    bp = describe_reg(entry.bp_reg, entry.bp_offset)
    kind = describe_type(entry)
    if entry.layout == OrcLayout.V6_4:
        return f"type:{kind} sp:{sp} bp:{bp} signal:{int(entry.signal)}"
    if entry.layout == OrcLayout.V6_3:
        return f" sp:{sp} bp:{bp} type:{kind} signal:{int(entry.signal)} end:{int(entry.end)}"
    return f" sp:{sp} bp:{bp} type:{kind} end:{int(entry.end)}"


def describe_location(row: OrcRow) -> str:
    """`symbol+addend` (relocatable; addend as unsigned 64-bit hex) or the address in hex."""
    if row.symbol is not None:
        return f"{row.symbol}+{row.addend & MASK:x}"
    return f"{row.address:x}"


def describe_row(row: OrcRow) -> str:
    return f"{describe_location(row)}:{describe_entry(row.entry)}"


def describe_table(table: OrcTable) -> Iterator[str]:
    """One line per row, in table order (objtool does not sort linked tables either)."""
    texts: dict[OrcEntry, str] = {}
    if table.relocations is None:
        for address, entry in zip(table.addresses, table.entries):
            text = texts.get(entry) or texts.setdefault(entry, describe_entry(entry))
            yield f"{address:x}:{text}"
    else:
        for reloc, entry in zip(table.relocations, table.entries):
            text = texts.get(entry) or texts.setdefault(entry, describe_entry(entry))
            yield f"{reloc.symbol}+{reloc.addend & MASK:x}:{text}"


def table_to_json(table: OrcTable) -> dict[str, object]:
    """The table as plain JSON-able data (addresses as hex strings)."""
    rows = []
    for row in table.rows:
        entry = row.entry
        kind = entry.kind
        rows.append({
            "address": f"{row.address:#x}",
            "section": row.section,
            "symbol": row.symbol,
            "addend": row.addend if row.symbol is not None else None,
            "type": kind.name.lower() if kind is not None else None,
            "raw_type": entry.type,
            "sp_reg": _reg_json(entry.sp_reg),
            "sp_offset": entry.sp_offset,
            "bp_reg": _reg_json(entry.bp_reg),
            "bp_offset": entry.bp_offset,
            "signal": entry.signal,
            "end": entry.end,
            "text": describe_row(row),
        })
    return {
        "file": table.path,
        "layout": table.layout.label,
        "layout_source": table.layout_source,
        "header": table.header.hex() if table.header is not None else None,
        "header_known": table.header_known,
        "relocatable": table.relocatable,
        "entries": rows,
    }


_REG_JSON = {int(r): r.name.lower() for r in OrcReg}


def _reg_json(reg: int) -> str:
    return _REG_JSON.get(reg, str(reg))
