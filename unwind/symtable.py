"""The function-name table llvm-symbolizer consults: which ELF symbols count and which alias wins."""

from __future__ import annotations

from formats.elf import ElfFile
from formats.symtab import Symbol, SymbolBind, SymbolType, read_symbols

_KEPT_TYPES = (SymbolType.NOTYPE, SymbolType.FUNC, SymbolType.OBJECT, SymbolType.GNU_IFUNC)


def name_table(elf: ElfFile) -> list[tuple[int, int, str, str | None]]:
    """(address, size, name, source file) sorted by address, one per address, as LLVM 14 builds it.

    .symtab if it has symbols, else .dynsym; only NOTYPE/FUNC/OBJECT/IFUNC symbols defined in a
    section; among symbols at one address the largest size wins, ties going to the later one.
    A local symbol carries the name of the STT_FILE symbol before it (LLVM's fallback file name).
    """
    symbols = read_symbols(elf, ".symtab") or read_symbols(elf, ".dynsym")
    source: dict[int, str] = {}
    current = None
    for sym in symbols:
        if sym.type == SymbolType.FILE:
            current = sym.name
        elif sym.bind == SymbolBind.LOCAL and current is not None:
            source[sym.index] = current
    kept = [s for s in symbols if _counts(s)]
    kept.sort(key=lambda s: (s.value, s.size))  # stable: equal keys keep table order
    table: list[tuple[int, int, str, str | None]] = []
    for sym in kept:
        entry = (sym.value, sym.size, sym.name, source.get(sym.index))
        if table and table[-1][0] == sym.value:
            table[-1] = entry
        else:
            table.append(entry)
    return table


def _counts(sym: Symbol) -> bool:
    return sym.index != 0 and sym.type in _KEPT_TYPES and sym.is_defined_in_section
