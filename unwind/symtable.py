"""The function-name table llvm-symbolizer consults: which ELF symbols count and which alias wins."""

from __future__ import annotations

from formats.elf import SHF_EXECINSTR, ElfFile, ElfType, SectionType
from formats.minidebuginfo import mini_debuginfo
from formats.relocations import read_relocations
from formats.symtab import Symbol, SymbolBind, SymbolType, read_symbols

_KEPT_TYPES = (SymbolType.NOTYPE, SymbolType.FUNC, SymbolType.OBJECT, SymbolType.GNU_IFUNC)
EM_MIPS, EM_ARM, EM_AARCH64, EM_RISCV = 8, 40, 183, 243


def name_table(elf: ElfFile) -> list[tuple[int, int, str, str | None]]:
    """(address, size, name, source file) sorted by address, one per address, as LLVM 14 builds it.

    .symtab if it has symbols, else .dynsym; only NOTYPE/FUNC/OBJECT/IFUNC symbols defined in a
    section; among symbols at one address the largest size wins, ties going to the later one.
    A local symbol carries the name of the STT_FILE symbol before it (LLVM's fallback file name).
    """
    symbols = read_symbols(elf, ".symtab")
    kept: list[tuple[int, Symbol]] = []
    source: dict[int, str] = {}
    if not symbols:
        symbols = read_symbols(elf, ".dynsym")
        mini = mini_debuginfo(elf)  # MiniDebugInfo adds the local functions .dynsym lacks, as gdb reads them
        if mini is not None:
            bias = _mini_bias(elf, mini)
            kept = [(s.value + bias.get(s.shndx, 0), s) for s in read_symbols(mini, ".symtab") if _counts(s)]
    current = None
    for sym in symbols:
        if sym.type == SymbolType.FILE:
            current = sym.name
        elif sym.bind == SymbolBind.LOCAL and current is not None:
            source[sym.index] = current
    kept = [(_address(elf, s), s) for s in symbols if _counts(s, elf.machine)] + kept
    kept.sort(key=lambda e: (e[0], e[1].size))  # stable: equal keys keep table order
    table: list[tuple[int, int, str, str | None]] = []
    for address, sym in kept:
        entry = (address, sym.size, sym.name, source.get(sym.index))
        if table and table[-1][0] == address:
            table[-1] = entry
        else:
            table.append(entry)
    return table


def _mini_bias(binary: ElfFile, mini: ElfFile) -> dict[int, int]:
    """Per section index of the .gnu_debugdata file, what to add to its symbols' values: the binary's
    address of the section of that name minus the embedded copy's.  Zero unless the binary was moved
    after the copy was made (prelink: elfutils' testfilebazmin_pl); gdb relocates a separate symbol file
    by matching sections by name the same way."""
    bias = {}
    for section in mini.sections:
        own = binary.section(section.name) if section.name else None
        if own is not None and own.addr != section.addr:
            bias[section.index] = own.addr - section.addr
    return bias


def _address(elf: ElfFile, sym: Symbol) -> int:
    """LLVM's ELFObjectFile::getSymbolAddress: st_value (an ARM or MIPS function's without its Thumb /
    microMIPS bit 0), plus the section's sh_addr in a relocatable file."""
    value = sym.value & ~1 if elf.machine in (EM_ARM, EM_MIPS) and sym.type == SymbolType.FUNC else sym.value
    if elf.type == ElfType.REL and sym.shndx < len(elf.sections):
        return value + elf.sections[sym.shndx].addr
    return value


def _counts(sym: Symbol, machine: int = 0) -> bool:
    """A symbol LLVM 14's SymbolizableObjectFile::addSymbol keeps: NOTYPE/FUNC/OBJECT/IFUNC, defined in a
    section, not SF_FormatSpecific (the null symbol; AArch64 `$d`/`$x` and ARM `$d`/`$t`/`$a` mapping
    symbols; RISC-V's nameless label-difference symbols)."""
    if sym.index == 0 or sym.type not in _KEPT_TYPES or not sym.is_defined_in_section:
        return False
    if machine == EM_AARCH64:
        return not sym.name.startswith(("$d", "$x"))
    if machine == EM_ARM:
        return not sym.name.startswith(("$d", "$t", "$a"))
    if machine == EM_RISCV:
        return bool(sym.name)
    return True


def perf_name_table(binary: ElfFile, debug: ElfFile | None = None) -> list[tuple[int, int, str, str | None]]:
    """(address, size, name, None) as perf names functions (tools/perf/util/symbol-elf.c, symbol.c).

    The debug file's .symtab when there is one, else the binary's .symtab, else its .dynsym; FUNC
    and IFUNC symbols and NOTYPE labels in executable sections; at one address perf's
    choose_best_symbol keeps one; a zero-size symbol ends where the next one starts. A zero-size
    label inside a sized function is left out (see _outside_sized_functions).
    """
    symbols: list[Symbol] = []
    source = binary
    for elf, section in ((debug, ".symtab"), (binary, ".symtab"), (binary, ".dynsym")):
        if elf is not None:
            symbols = read_symbols(elf, section)
            if symbols:
                source = elf
                break
    if source is binary and not read_symbols(binary, ".symtab"):
        mini = mini_debuginfo(binary)  # perf also reads .gnu_debugdata's symbol table
        if mini is not None:
            symbols = read_symbols(mini, ".symtab") + symbols
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
    best = _outside_sized_functions(best)
    table: list[tuple[int, int, str, str | None]] = []
    for i, sym in enumerate(best):
        size = sym.size or ((best[i + 1].value - sym.value) if i + 1 < len(best) else 0)
        table.append((sym.value, size, sym.name, None))
    plt = plt_symbols(binary)
    if plt:
        covered = {start for start, *_ in table}
        table = sorted(table + [p for p in plt if p[0] not in covered])
    return table


def _outside_sized_functions(symbols: list[Symbol]) -> list[Symbol]:
    """`symbols` (sorted, one per address) without the zero-size NOTYPE labels that lie inside a sized
    function before them. perf keeps such a label, ending at the next symbol, so it overlaps the function,
    and its rb-tree lookup returns whichever of the two it meets first: on node's
    Builtins_JSConstructStubGeneric (labels construct_stub_create_deopt_addr, ..._invoke_deopt_addr at
    +0x3b, +0x13a) it printed the function on every sample seen; gdb (`info symbol`) and eu-stack (libdwfl
    prefers a sized symbol holding the address) name the function too."""
    kept: list[Symbol] = []
    end = 0  # end of the last sized function
    for sym in symbols:
        if sym.type == SymbolType.NOTYPE and not sym.size and sym.value < end:
            continue
        if sym.size and sym.type in (SymbolType.FUNC, SymbolType.GNU_IFUNC):
            end = max(end, sym.value + sym.size)
        kept.append(sym)
    return kept


PLT_ENTRY_SIZE = 16  # x86-64, with or without IBT's .plt.sec


def plt_symbols(elf: ElfFile) -> list[tuple[int, int, str, None]]:
    """`name@plt` symbols for PLT entries, as perf's dso__synthesize_plt_symbols makes them on x86-64.

    With .plt.sec (IBT) the entries are there and `.plt` is one symbol; otherwise they follow the
    16-byte `.plt` header (absent when the entry count fills .plt exactly).  Entries follow the
    JUMP_SLOT/IRELATIVE relocations sorted by GOT address; a relocation without a symbol gives `@plt`.
    """
    plt, rela = elf.section(".plt"), elf.section(".rela.plt")
    if plt is None or rela is None or rela.type != SectionType.RELA or not elf.is_64:
        return []  # a debug-only file keeps .rela.plt as NOBITS: no entries to name (32-bit PLTs: not read)
    relocations = sorted(read_relocations(elf, rela), key=lambda r: r.offset)
    dynsym = read_symbols(elf, ".dynsym")
    names = [dynsym[r.symbol].name if 0 < r.symbol < len(dynsym) else "" for r in relocations]
    plt_sec = elf.section(".plt.sec")
    if plt_sec is not None:
        out = [(plt.addr, plt.size, ".plt", None)]
        start = plt_sec.addr
    elif len(relocations) * PLT_ENTRY_SIZE == plt.size:
        out, start = [], plt.addr
    else:
        out, start = [(plt.addr, PLT_ENTRY_SIZE, ".plt", None)], plt.addr + PLT_ENTRY_SIZE
    for i, name in enumerate(names):
        out.append((start + i * PLT_ENTRY_SIZE, PLT_ENTRY_SIZE, f"{name}@plt", None))
    return out


def _perf_prefers(new: Symbol, old: Symbol) -> bool:
    """perf's choose_best_symbol(old, new) picking `new`: sized, non-weak, global, fewer '_', longer."""
    for key in (lambda s: s.size > 0, lambda s: s.bind != SymbolBind.WEAK, lambda s: s.bind == SymbolBind.GLOBAL,
                lambda s: -(len(s.name) - len(s.name.lstrip("_"))), lambda s: len(s.name)):
        a, b = key(new), key(old)
        if a != b:
            return a > b
    return False
