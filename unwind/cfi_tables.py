"""Each module's CFI compiled once into flat sorted arrays of interned UnwindRules, cached and persisted.

Layout: FDE starts/ends (sorted), per-FDE slices of row locations, and for each row an index into
a small table of distinct rules (a few hundred for libc). Lookup is two binary searches. Compiled
tables persist under $UNWIND_CACHE_DIR (else $XDG_CACHE_HOME/unwind, else ~/.cache/unwind) as
cfi/<build-id>-<sections>.cfi, plain data in marshal format (fast to load, runs no code); a stale
or corrupt file is rebuilt.
"""

from __future__ import annotations

import marshal
import os
from array import array
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from cachetools import LRUCache

from formats.elf import ElfFile
from formats.errors import FormatError

from .caches import CacheStats
from .cfi_state import (CorruptCacheError, RuleKey, check_analyses, check_compiled, read_marshal,
                        read_marshal_signed)
from .index import cache_dir, write_atomically
from .rules import CfaKind, CfaRule, FrameKind, RegKind, RegRule, UnwindRule

if TYPE_CHECKING:  # the CFI parsers load only when a table is compiled, never on a warm run
    from formats.cfi.hdr import EhFrameHdr
    from formats.cfi.parse import CfiSection, Fde
    from formats.cfi.table import Row, Table

FORMAT_VERSION = 3
FRAME0_VERSION = 5  # of unwind.prologue's analysis: bump when its answers change (2: control flow, 3-4: realigned,
# 5: PLT stubs without CFI);
# also the .frame0 files' format version: {"version": FRAME0_VERSION, "analyses": {vaddr: rule key or None}}
# A rule whose CFA cannot be computed: the walk stops with bad-rule (corrupt FDE).
BAD_RULE = UnwindRule(CfaRule(CfaKind.UNDEFINED))
# One FDE of a LazyCfi: (start, end, row locations, the rule of each row).
FdeRows = tuple[int, int, Sequence[int], Sequence[UnwindRule]]
_NO_FDE: FdeRows = (0, 0, (), ())  # an address .eh_frame_hdr points at that holds no usable FDE: covers nothing


def _rule_key(row: Row, ra: int, signal: bool) -> RuleKey:
    """Plain-data form of a row's rule (what is interned and persisted)."""
    from formats.cfi.table import RuleKind

    if row.cfa_expr is not None:
        cfa: tuple[int, int, int, bytes] = (int(CfaKind.EXPRESSION), 0, 0, bytes(row.cfa_expr))
    else:
        cfa = (int(CfaKind.REG_OFFSET), row.cfa_reg, row.cfa_offset, b"")
    regs: list[tuple[int, int, int, int, bytes]] = []
    for reg, (kind, value, expr) in row.regs:
        if kind == RuleKind.UNSPECIFIED:
            continue
        regs.append((reg, int(RegKind[kind.name]), value if kind in (RuleKind.OFFSET, RuleKind.VAL_OFFSET) else 0,
                     value if kind == RuleKind.REGISTER else 0, bytes(expr)))
    return cfa, tuple(regs), ra, int(FrameKind.SIGNAL if signal else FrameKind.NORMAL)


def rule_from_key(key: RuleKey) -> UnwindRule:
    (cfa_kind, cfa_reg, cfa_off, cfa_expr), regs, ra, kind = key
    return UnwindRule(CfaRule(CfaKind(cfa_kind), cfa_reg, cfa_off, cfa_expr),
                      tuple((r, RegRule(RegKind(k), off, reg2, expr)) for r, k, off, reg2, expr in regs),
                      ra, FrameKind(kind))


def key_of(rule: UnwindRule) -> RuleKey:
    """The plain-data key of a rule (rule_from_key's inverse)."""
    cfa = rule.cfa
    return ((int(cfa.kind), cfa.reg, cfa.offset, cfa.expr),
            tuple((r, int(reg.kind), reg.offset, reg.reg, reg.expr) for r, reg in rule.regs),
            rule.ra_reg, int(rule.kind))


class CompiledCfi:
    """One module's rules by ELF virtual address."""

    __slots__ = ("ends", "errors", "keys", "row_locs", "row_rules", "row_slices", "rules", "starts")

    def __init__(self, starts: array[int], ends: array[int], row_slices: array[int], row_locs: array[int],
                 row_rules: array[int], keys: Sequence[RuleKey | None], errors: int = 0):
        self.starts = starts
        self.ends = ends
        self.row_slices = row_slices
        self.row_locs = row_locs
        self.row_rules = row_rules
        self.keys = keys
        self.rules: list[UnwindRule | None] = [None] * len(keys)  # built on first use: a run needs few
        self.errors = errors

    def __len__(self) -> int:
        return len(self.starts)

    def rule_at(self, vaddr: int) -> UnwindRule | None:
        """The rule in force at `vaddr`, None when no FDE covers it (BAD_RULE for a corrupt FDE)."""
        i = bisect_right(self.starts, vaddr) - 1
        if i < 0 or vaddr >= self.ends[i]:
            return None
        lo, hi = self.row_slices[i], self.row_slices[i + 1]
        j = bisect_right(self.row_locs, vaddr, lo, hi) - 1
        r = self.row_rules[max(j, lo)]
        rule = self.rules[r]
        if rule is None:
            key = self.keys[r]
            rule = self.rules[r] = rule_from_key(key) if key is not None else BAD_RULE
        return rule

    def to_state(self) -> dict[str, object]:
        """Plain data (arrays as typecode + bytes) for marshal."""
        arrays = {name: (data.typecode, data.tobytes()) for name, data in
                  (("starts", self.starts), ("ends", self.ends), ("row_slices", self.row_slices),
                   ("row_locs", self.row_locs), ("row_rules", self.row_rules))}
        return {"version": FORMAT_VERSION, **arrays, "keys": list(self.keys), "errors": self.errors}

    @classmethod
    def from_state(cls, state: object, path: str, checked_before: bool = False) -> CompiledCfi:
        """The table stored as `state` (read from `path`); CorruptCacheError unless it is consistent
        (`checked_before`: only its shape is checked, see check_compiled)."""
        arrays, keys, errors = check_compiled(state, FORMAT_VERSION, path, checked_before)
        starts, ends, row_slices, row_locs, row_rules = arrays  # check_compiled gives all five, in this order
        return cls(starts, ends, row_slices, row_locs, row_rules, keys, errors)


def cfi_sections(elf: ElfFile, debug_elf: ElfFile | None = None) -> list[CfiSection]:
    """.eh_frame first, then .debug_frame of the file and of its separate debug file."""
    from formats.cfi.parse import CfiSection

    found: list[CfiSection] = []
    for source, name in ((elf, ".eh_frame"), (elf, ".debug_frame"), (debug_elf, ".debug_frame")):
        if source is not None:
            section = CfiSection.from_elf(source, name)
            if section is not None and section.data:
                found.append(section)
    return found


def compile_sections(sections: list[CfiSection]) -> CompiledCfi:
    """Interpret every FDE of every section into flat arrays; a corrupt FDE maps to BAD_RULE."""
    from formats.cfi.table import interpret

    fdes: list[tuple[int, int, int, list[tuple[int, RuleKey | None]]]] = []  # (start, priority, end, [(loc, key)])
    errors = 0
    for priority, section in enumerate(sections):
        cie_tables: dict[int, Table] = {}
        try:
            entries = list(_entries(section))
        except FormatError:
            errors += 1
            entries = list(_entries(section, tolerant=True))
        for fde in entries:
            if fde.pc_range == 0:
                continue
            try:
                cie = fde.cie
                if cie is None:
                    raise FormatError("FDE without a CIE", section.path, fde.offset)
                if cie.offset not in cie_tables:
                    cie_tables[cie.offset] = interpret(section, cie)
                table = interpret(section, fde, cie_tables[cie.offset])
                rows: list[tuple[int, RuleKey | None]] = [
                    (row.loc, _rule_key(row, cie.ra_register, cie.signal_frame)) for row in table.effective_rows()]
            except FormatError:
                errors += 1
                rows = [(fde.pc_begin, None)]
            fdes.append((fde.pc_begin, priority, fde.pc_end, rows or [(fde.pc_begin, None)]))
    fdes.sort(key=lambda f: (f[0], f[1]))
    starts, ends, slices = array("Q"), array("Q"), array("I", [0])
    locs, rule_ids = array("Q"), array("I")
    interned: dict[RuleKey | None, int] = {}
    keys: list[RuleKey | None] = []
    last_start = None
    for start, _, end, rows in fdes:
        if start == last_start:  # same function in .eh_frame and .debug_frame: the first wins
            continue
        last_start = start
        starts.append(start)
        ends.append(end)
        for loc, key in rows:
            index = interned.get(key)
            if index is None:
                index = interned[key] = len(keys)
                keys.append(key)
            locs.append(loc)
            rule_ids.append(index)
        slices.append(len(locs))
    return CompiledCfi(starts, ends, slices, locs, rule_ids, keys, errors)


def _entries(section: CfiSection, tolerant: bool = False) -> Iterator[Fde]:
    """The FDEs of a section; `tolerant` stops quietly at the first corrupt entry instead of raising."""
    from formats.cfi.parse import Fde

    pos, end = 0, len(section.data)
    while pos < end:
        try:
            entry, pos = section.entry_at(pos)
        except FormatError:
            if tolerant:
                return
            raise
        if isinstance(entry, Fde):
            yield entry
        elif not hasattr(entry, "version"):  # terminator: skip trailing zero bytes
            while pos < end and section.data[pos] == 0:
                pos += 1


class LazyCfi:
    """Rules found through .eh_frame_hdr's binary search, each FDE interpreted on first use.

    Starting costs nothing: a few unwinds touch a few dozen FDEs, not libc's 3700.
    """

    def __init__(self, hdr: EhFrameHdr, section: CfiSection):
        self.hdr = hdr
        self.section = section
        self._fdes: dict[int, FdeRows] = {}
        self._cie_tables: dict[int, Table] = {}
        self._interned: dict[RuleKey, UnwindRule] = {}
        self.compiled = 0

    def rule_at(self, vaddr: int) -> UnwindRule | None:
        fde_addr = self.hdr.lookup(vaddr)
        if fde_addr is None:
            return None
        found = self._fdes.get(fde_addr)
        if found is None:
            found = self._fdes[fde_addr] = self._compile(fde_addr) or _NO_FDE
        start, end, locs, rules = found
        if not start <= vaddr < end:
            return None
        return rules[max(bisect_right(locs, vaddr) - 1, 0)]

    def _compile(self, fde_addr: int) -> FdeRows | None:
        from formats.cfi.parse import Fde
        from formats.cfi.table import interpret

        self.compiled += 1
        section = self.section
        try:
            fde, _ = section.entry_at(fde_addr - section.address)
            if not isinstance(fde, Fde) or fde.cie is None:
                return None
            cie = fde.cie
            if cie.offset not in self._cie_tables:
                self._cie_tables[cie.offset] = interpret(section, cie)
            table = interpret(section, fde, self._cie_tables[cie.offset])
            rows = [(row.loc, _rule_key(row, cie.ra_register, cie.signal_frame)) for row in table.effective_rows()]
        except FormatError:  # corrupt FDE: the walk stops with bad-rule there
            return (self.hdr.locations[self.hdr.fdes.index(fde_addr)], 1 << 64, [0], [BAD_RULE])
        locs: list[int] = []
        rules: list[UnwindRule] = []
        for loc, key in rows:
            rule = self._interned.get(key)
            if rule is None:
                rule = self._interned[key] = rule_from_key(key)
            locs.append(loc)
            rules.append(rule)
        return fde.pc_begin, fde.pc_end, locs, rules


class CfiCache:
    """Compiled tables by build-id (else path, size, mtime): memory LRU, then disk, then compile.

    A table that can persist (a build-id, `persist`) is compiled whole on first use and saved, so
    every later run only loads it. One that cannot, with .eh_frame_hdr and no .debug_frame, starts
    lazily (LazyCfi) and is compiled whole in memory once it has needed `lazy_limit` FDEs.
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None, size: int = 64, persist: bool = True,
                 lazy_limit: int = 64):
        self.directory = os.fspath(directory) if directory else None
        self.persist = persist
        self.lazy_limit = lazy_limit
        self._memory: LRUCache[str, CompiledCfi | LazyCfi] = LRUCache(size)
        self._analyses: LRUCache[str, dict[int, RuleKey | None]] = LRUCache(size)
        self._unsaved: dict[str, tuple[str, dict[int, RuleKey | None], int]] = {}  # key -> (file, analyses, unsaved)
        self.hits = self.loads = self.compiles = self.lazy = 0
        self.analysis_hits = self.analysis_misses = 0

    def _dir(self) -> str:
        return os.path.join(self.directory or cache_dir(), "cfi")

    def get(self, elf: ElfFile, debug_elf: ElfFile | None = None) -> CompiledCfi | LazyCfi:
        key = (elf.build_id.hex() if elf.build_id else _file_key(elf.path)) + _flavour(elf, debug_elf)
        found = self._memory.get(key)
        if found is not None and not (isinstance(found, LazyCfi) and found.compiled >= self.lazy_limit):
            self.hits += 1
            return found
        path = os.path.join(self._dir(), f"{key}.cfi") if self.persist and elf.build_id else None
        if found is None and path is not None:
            found = self._load(path)
            if found is not None:
                self.loads += 1
        if found is None and path is None and self.lazy_limit > 0:
            found = self._lazy(elf, debug_elf)
            if found is not None:
                self.lazy += 1
        if found is None or isinstance(found, LazyCfi) and found.compiled >= self.lazy_limit:
            self.compiles += 1
            found = compile_sections(cfi_sections(elf, debug_elf))
            if path is not None:
                self._save(path, found)
        self._memory[key] = found
        return found

    def analyses(self, elf: ElfFile) -> dict[int, RuleKey | None]:
        """Frame-0 code analyses made where the module has no FDE: vaddr -> rule key (None: none found).

        They depend on the module's code and symbols only, so they persist beside its table
        (`cfi/<build-id>.frame0-<FRAME0_VERSION>`, which the file's contents repeat) and a warm run needs no
        disassembler for them.
        """
        key = elf.build_id.hex() if elf.build_id else _file_key(elf.path)
        found = self._analyses.get(key)
        if found is not None:
            self.analysis_hits += 1
        else:
            self.analysis_misses += 1
            found = {}
            self._flush_one(key)  # evicted with unsaved entries: written first, so the file read below has them
            if self.persist and elf.build_id:
                path = self._analyses_path(elf.build_id)
                try:
                    found.update(check_analyses(read_marshal(path), FRAME0_VERSION, path))
                except (OSError, CorruptCacheError):  # missing, stale or corrupt: start afresh
                    pass
            self._analyses[key] = found
        return found

    def remember_analysis(self, elf: ElfFile, vaddr: int, rule: UnwindRule | None) -> None:
        """Keep one analysis; the module's file is rewritten (temp file + rename) once the unsaved entries
        reach half of those saved, so a run writes O(log n) times, not once per entry; `flush` writes the rest."""
        analyses = self.analyses(elf)
        analyses[vaddr] = key_of(rule) if rule is not None else None
        if self.persist and elf.build_id:
            key = elf.build_id.hex()
            path, _, unsaved = self._unsaved.get(key, (self._analyses_path(elf.build_id), analyses, 0))
            unsaved += 1
            if unsaved >= max(1, (len(analyses) - unsaved) // 2):
                _save_analyses(path, analyses)
                self._unsaved.pop(key, None)
            else:
                self._unsaved[key] = (path, analyses, unsaved)

    def flush(self) -> None:
        """Write every module's analyses that are not on disk yet (a Session does so when it closes)."""
        for key in list(self._unsaved):
            self._flush_one(key)

    def _flush_one(self, key: str) -> None:
        held = self._unsaved.pop(key, None)
        if held is not None:
            _save_analyses(held[0], held[1])

    def cache_stats(self) -> dict[str, CacheStats]:
        """`cfi-tables` (misses: tables loaded from disk, compiled or started lazily) and `frame0-analyses`
        (modules' analysis sets held)."""
        return {"cfi-tables": CacheStats(self.hits, self.loads + self.compiles + self.lazy, len(self._memory),
                                         int(self._memory.maxsize)),
                "frame0-analyses": CacheStats(self.analysis_hits, self.analysis_misses, len(self._analyses),
                                              int(self._analyses.maxsize))}

    def _analyses_path(self, build_id: bytes) -> str:
        return os.path.join(self._dir(), f"{build_id.hex()}.frame0-{FRAME0_VERSION}")

    @staticmethod
    def _lazy(elf: ElfFile, debug_elf: ElfFile | None) -> LazyCfi | None:
        """A LazyCfi when .eh_frame_hdr indexes all the CFI there is (no .debug_frame anywhere)."""
        if elf.section(".debug_frame") is not None or (debug_elf is not None and debug_elf.section(".debug_frame")):
            return None
        from formats.cfi.hdr import EhFrameHdr
        from formats.cfi.parse import CfiSection

        hdr_section, eh = elf.section(".eh_frame_hdr"), CfiSection.from_elf(elf, ".eh_frame")
        if hdr_section is None or eh is None:
            return None
        data = elf.section_bytes(hdr_section)  # bytes: a Section, not a name, is asked for
        if data is None:
            return None
        try:
            hdr = EhFrameHdr.from_bytes(data, hdr_section.addr, elf.path)
        except FormatError:
            return None
        return LazyCfi(hdr, eh) if hdr.locations else None

    @staticmethod
    def _load(path: str) -> CompiledCfi | None:
        """The table saved at `path`, checked in full once per version of the file: a stamp beside it
        records the signature (inode, size, mtime, ctime) the checks passed for, as unwind.index.open_index
        does for indexes; a rewritten or replaced file is checked again."""
        stamp = path + ".ok"
        try:
            state, signature = read_marshal_signed(path)
            try:
                with open(stamp) as fh:
                    trusted = fh.read() == signature
            except OSError:
                trusted = False
            table = CompiledCfi.from_state(state, path, checked_before=trusted)
        except (OSError, CorruptCacheError):  # missing, unreadable, stale or corrupt: rebuild it
            return None
        if not trusted:
            write_atomically(stamp, signature.encode())
        return table

    @staticmethod
    def _save(path: str, table: CompiledCfi) -> None:
        write_atomically(path, marshal.dumps(table.to_state()))


def _save_analyses(path: str, analyses: dict[int, RuleKey | None]) -> None:
    write_atomically(path, marshal.dumps({"version": FRAME0_VERSION, "analyses": analyses}))


def _flavour(elf: ElfFile, debug_elf: ElfFile | None) -> str:
    """Which frame sections feed the table: a stripped binary and its debug file share a build-id."""
    def has(source: ElfFile | None, name: str) -> bool:
        section = source.section(name) if source is not None else None
        return section is not None and section.type != 8 and section.size > 0
    return "-" + "".join(flag for flag, present in (("e", has(elf, ".eh_frame")), ("d", has(elf, ".debug_frame")),
                                                   ("D", has(debug_elf, ".debug_frame"))) if present)


def _file_key(path: str | None) -> str:
    if path is None:
        return "None"
    try:
        st = os.stat(path)
    except OSError:
        return path
    return f"{path}:{st.st_size}:{st.st_mtime_ns}"
