"""The function-name table llvm-symbolizer consults: which ELF symbols count and which alias wins."""

from __future__ import annotations

from formats.elf import SHF_EXECINSTR, ElfFile
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


def perf_name_table(binary: ElfFile, debug: ElfFile | None = None) -> list[tuple[int, int, str, str | None]]:
    """(address, size, name, None) as perf names functions (tools/perf/util/symbol-elf.c, symbol.c).

    The debug file's .symtab when there is one, else the binary's .symtab, else its .dynsym; FUNC
    and IFUNC symbols and NOTYPE labels in executable sections; at one address perf's
    choose_best_symbol keeps one; a zero-size symbol ends where the next one starts.
    """
    symbols: list[Symbol] = []
    source = binary
    for elf, table in ((debug, ".symtab"), (binary, ".symtab"), (binary, ".dynsym")):
        if elf is not None:
            symbols = read_symbols(elf, table)
            if symbols:
                source = elf
                break
    executable = {s.index for s in source.sections if s.flags & SHF_EXECINSTR}
    kept = [s for s in symbols if s.name and s.is_defined_in_section and (
        s.type in (SymbolType.FUNC, SymbolType.GNU_IFUNC)
        or (s.type == SymbolType.NOTYPE and s.shndx in executable))]
    kept.sort(key=lambda s: s.value)
    best: list[Symbol] = []
    for sym in kept:
        if best and best[-1].value == sym.value:
            if _perf_prefers(sym, best[-1]):
                best[-1] = sym
        else:
            best.append(sym)
    table = []
    for i, sym in enumerate(best):
        size = sym.size or ((best[i + 1].value - sym.value) if i + 1 < len(best) else 0)
        table.append((sym.value, size, sym.name, None))
    return table


def _perf_prefers(new: Symbol, old: Symbol) -> bool:
    """perf's choose_best_symbol(old, new) picking `new`: sized, non-weak, global, fewer '_', longer."""
    for key in (lambda s: s.size > 0, lambda s: s.bind != SymbolBind.WEAK, lambda s: s.bind == SymbolBind.GLOBAL,
                lambda s: -(len(s.name) - len(s.name.lstrip("_"))), lambda s: len(s.name)):
        a, b = key(new), key(old)
        if a != b:
            return a > b
    return False
