"""Which ELF symbols name an address, and which alias wins, as each peer decides it.

`name_table`: llvm-symbolizer's function-name table; `perf_name_table`: perf's (with PLT entries);
`LibdwflSymbols`: elfutils' dwfl_module_addrinfo, which eu-stack and eu-addr2line -S print.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from itertools import accumulate
from typing import NamedTuple

from cachetools import LRUCache

from formats.elf import SHF_ALLOC, SHF_EXECINSTR, ElfFile, ElfType, SectionType
from formats.errors import UnwindError
from formats.minidebuginfo import mini_debuginfo
from formats.relocations import read_relocations
from formats.symtab import (SHN_LORESERVE, SHN_UNDEF, SHN_XINDEX, Symbol, SymbolBind, SymbolType, read_symbols,
                            symbols_in)

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


class _DwflSymbol(NamedTuple):
    value: int
    size: int
    bind: int  # libdwfl's binding_value: GLOBAL 3, WEAK 2, LOCAL 1, else 0
    name: str
    exact_only: bool  # no section to libdwfl (SHN_ABS, or not SHF_ALLOC): a label names only its own address
    order: int  # position in libdwfl's search order


class _DwflPass:
    """The symbols of one of dwfl_module_addrinfo's two passes (globals, then locals), indexed so that a
    lookup visits only the symbols its search could choose: the sized ones holding the address (found by
    scanning back while some earlier symbol still ends above it), the highest end of every symbol at or
    below the address (libdwfl's `min_label`), and the labels starting at that end."""

    def __init__(self, symbols: list[_DwflSymbol]):
        self.symbols = sorted(symbols, key=lambda s: s.value)
        self.values = [s.value for s in self.symbols]
        self.max_end = list(accumulate((s.value + s.size for s in self.symbols), max))
        self.labels: dict[int, list[_DwflSymbol]] = {}
        for sym in sorted(symbols, key=lambda s: s.order):
            if not sym.size:
                self.labels.setdefault(sym.value, []).append(sym)

    def holding(self, addr: int) -> tuple[list[_DwflSymbol], int]:
        """(sized symbols holding `addr` in search order, the highest end of the symbols at or below it)."""
        i = bisect.bisect_right(self.values, addr)
        if not i:
            return [], 0
        found = []
        j = i - 1
        while j >= 0 and self.max_end[j] > addr:
            sym = self.symbols[j]
            if sym.size and addr - sym.value < sym.size:
                found.append(sym)
            j -= 1
        found.sort(key=lambda s: s.order)
        return found, self.max_end[i - 1]


class LibdwflSymbols:
    """The symbol elfutils' dwfl_module_addrinfo gives an address of one module (libdwfl/dwfl_module_addrsym.c),
    which eu-stack prints when no DWARF scope names a frame, and eu-addr2line -S always.

    The table: the file's .symtab, else its separate debug file's, else .dynsym with the .gnu_debugdata
    symbol table after it (libdwfl's search order: main locals, aux locals, main globals, aux globals).
    Global symbols are searched first, locals only if no global was chosen (and no global label sits
    exactly at the address).  A sized symbol holding the address wins over any label: the first found,
    replaced by a later one that starts closer or binds stronger (GLOBAL > WEAK > LOCAL), or that starts
    at the same address and is smaller without binding weaker.  Without one, a label (size 0) counts
    only if it starts at or after the end of every symbol below the address and lies in the same
    section (of the file's SHF_ALLOC sections, searched as libdwfl does; a label in no loaded section,
    SHN_ABS or a non-SHF_ALLOC one, only at exactly the address): the last such label in search order.
    Symbols without a name, undefined, SECTION, FILE or TLS never count.  A table whose entry size is
    0 or whose first global is past its end is no table, as libdwfl refuses both.
    """

    def __init__(self, elf: ElfFile, debug: ElfFile | None = None):
        ordered = self._search_order(elf, debug)
        self.globals = _DwflPass(ordered[0])
        self.locals = _DwflPass(ordered[1])
        self._sections = sorted((s.addr, s.addr + s.size, s.index) for s in elf.sections if s.flags & SHF_ALLOC)

    @staticmethod
    def _search_order(elf: ElfFile, debug: ElfFile | None) -> tuple[list[_DwflSymbol], list[_DwflSymbol]]:
        """(globals pass, locals pass) in libdwfl's index order (libdwfl/dwfl_module_getsym.c)."""
        main, main_file = _readable_table(elf, SectionType.SYMTAB), elf
        if main is None and debug is not None:
            main, main_file = _readable_table(debug, SectionType.SYMTAB), debug
        aux: tuple[list[Symbol], int] | None = None
        bias: dict[int, int] = {}
        aux_file = None
        if main is None:
            main, main_file = _readable_table(elf, SectionType.DYNSYM), elf
            try:
                aux_file = mini_debuginfo(elf)
            except UnwindError:  # corrupt or oversized .gnu_debugdata: libdwfl goes on without the aux table
                aux_file = None
            if aux_file is not None:
                aux = _readable_table(aux_file, SectionType.SYMTAB)
                bias = _mini_bias(elf, aux_file)
        files = (main_file, aux_file)
        main_syms, main_first = main or ([], 0)
        aux_syms, aux_first = aux or ([], 0)
        skip = 1 if main_syms and aux_syms else 0  # the aux table's null entry is left out
        flat = ([(s, 0) for s in main_syms[:main_first]] + [(s, 1) for s in aux_syms[skip:aux_first]]
                + [(s, 0) for s in main_syms[main_first:]] + [(s, 1) for s in aux_syms[aux_first:]])
        first_global = main_first + aux_first - skip
        biases: tuple[dict[int, int], dict[int, int]] = ({}, bias)
        passes: list[list[_DwflSymbol]] = []
        order = 0
        for part in (flat[first_global or 1:], flat[1:first_global]):
            kept = []
            for sym, table in part:
                if sym.name and sym.shndx != SHN_UNDEF and sym.type not in _DWFL_SKIPPED:
                    kept.append(_DwflSymbol(sym.value + biases[table].get(sym.shndx, 0), sym.size,
                                            _DWFL_BINDING.get(sym.bind, 0), sym.name,
                                            _matches_only_exactly(sym, files[table]), order))
                    order += 1
            passes.append(kept)
        return passes[0], passes[1]

    def name_at(self, addr: int) -> str | None:
        """The name eu-stack gives the ELF virtual address `addr`, or None."""
        found, top = self.globals.holding(addr)
        closest = _closest(found)
        if closest is not None:
            return closest.name
        label = self._label(self.globals, top, addr)
        if label is None or label.value != addr:  # no global label exactly at addr: the locals are searched
            found, local_top = self.locals.holding(addr)
            closest = _closest(found)
            if closest is not None:
                return closest.name
            top = max(top, local_top)
            label = self._label(self.locals, top, addr) or self._label(self.globals, top, addr)
        return label.name if label is not None else None

    def _label(self, part: _DwflPass, top: int, addr: int) -> _DwflSymbol | None:
        """The last label of `part` in search order that starts at `top` in `addr`'s section."""
        if top > addr:
            return None
        for sym in reversed(part.labels.get(top, ())):
            if self._same_section(sym, addr):
                return sym
        return None

    def _same_section(self, sym: _DwflSymbol, addr: int) -> bool:
        if sym.exact_only:
            return sym.value == addr
        return self._section_of(sym.value) == self._section_of(addr)

    def _section_of(self, addr: int) -> int | None:
        """libdwfl's find_section: a binary search of the SHF_ALLOC sections sorted by (start, end, index),
        a section's end counting as inside it unless the next one starts there."""
        sections = self._sections
        low, high = 0, len(sections)
        while low < high:
            mid = (low + high) // 2
            start, end, index = sections[mid]
            if addr < start:
                high = mid
            elif addr > end:
                low = mid + 1
            else:
                if addr == end and mid + 1 < len(sections) and sections[mid + 1][0] == addr:
                    return sections[mid + 1][2]
                return index
        return None


_DWFL_SKIPPED = (SymbolType.SECTION, SymbolType.FILE, SymbolType.TLS)
_DWFL_BINDING: dict[int, int] = {SymbolBind.GLOBAL: 3, SymbolBind.WEAK: 2, SymbolBind.LOCAL: 1}


def _closest(holding: list[_DwflSymbol]) -> _DwflSymbol | None:
    """libdwfl's try_sym_value over the sized symbols holding an address, in search order: the first,
    replaced by one that starts closer or binds stronger, or starts there too and is smaller without
    binding weaker."""
    closest = None
    for sym in holding:
        if (closest is None or closest.value < sym.value or closest.bind < sym.bind
                or closest.value == sym.value and closest.size > sym.size and closest.bind <= sym.bind):
            closest = sym
    return closest


def _matches_only_exactly(sym: Symbol, elf: ElfFile | None) -> bool:
    """Whether libdwfl gives `sym` no section (libdwfl/dwfl_module_getsym.c): a reserved index (SHN_ABS ...)
    or a section that is not SHF_ALLOC in the file holding the symbol (LTO's labels in .debug_info);
    such a label names only its own address."""
    if sym.shndx == SHN_XINDEX:
        return False
    if sym.shndx >= SHN_LORESERVE:
        return True
    sections = elf.sections if elf is not None else ()
    return sym.shndx < len(sections) and not sections[sym.shndx].flags & SHF_ALLOC


def _readable_table(elf: ElfFile, kind: SectionType) -> tuple[list[Symbol], int] | None:
    """(symbols, index of the first global) of `elf`'s last section of type `kind` with a non-zero entry
    size, as libdwfl's load_symtab takes it; None when there is none or libdwfl would refuse it (its
    first global past its end, or its data unreadable)."""
    chosen = None
    for section in elf.sections:
        if section.type == kind and section.entsize:
            chosen = section
    if chosen is None:
        return None
    try:
        symbols = symbols_in(elf, chosen)
    except UnwindError:
        return None
    if chosen.info > len(symbols):
        return None
    return symbols, chosen.info


class LibdwflSymbolsCache:
    """LibdwflSymbols per ELF file, bounded; a file without .symtab is read with its separate debug file's
    (found by build-id or .gnu_debuglink under `debug_dirs`, as eu-stack's default debuginfo path finds it)."""

    def __init__(self, size: int = 64):
        self._cache: LRUCache[tuple[int, str | None], LibdwflSymbols] = LRUCache(size)

    def get(self, elf: ElfFile, debug_dirs: Sequence[str] = ()) -> LibdwflSymbols:
        key = id(elf), elf.path
        symbols = self._cache.get(key)
        if symbols is None:
            symbols = LibdwflSymbols(elf, self._debug_file(elf, debug_dirs))
            self._cache[key] = symbols
        return symbols

    @staticmethod
    def _debug_file(elf: ElfFile, debug_dirs: Sequence[str]) -> ElfFile | None:
        if not debug_dirs or _readable_table(elf, SectionType.SYMTAB) is not None:
            return None
        from .debuginfo import find_debug_file

        try:
            path = find_debug_file(elf, debug_dirs)
            return ElfFile(path) if path else None
        except (UnwindError, OSError):
            return None  # an unreadable debug file: libdwfl goes on without it
