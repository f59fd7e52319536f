"""The `dwarf` unwinder: per frame, the module's compiled CFI (.eh_frame, .debug_frame) gives the rule to step."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from cachetools import LRUCache

from ..cfi_tables import CfiCache, CompiledCfi, LazyCfi, rule_from_key
from ..debuginfo import DEFAULT_DEBUG_DIRS, find_debug_file
from ..memory import AddressSpace, SampleMemory
from ..model import Frame, Mapping, ModuleMap, Sample, Trace, Via
from ..modules import Module, ModuleResolver, RootRange, is_program_entry, mapping_bias, root_ranges
from ..vdso import vdso_image
from ..rules import ENTRY_POINT, FRAME_CHAIN, SIGNAL_FRAME, FrameKind, UnwindRule
from ..walk import RuleMemo, Suffixes, walk
from formats.elf import ElfFile
from formats.errors import UnwindError

if TYPE_CHECKING:
    from .fp import FramePointerUnwinder

CfiTable = CompiledCfi | LazyCfi
VDSO = "[vdso]"
MEMO_LIMIT = 1 << 17  # rules remembered per module map
# glibc's __restore_rt (and musl's): mov $0xf,%rax (rt_sigreturn); syscall
SIGRETURN_BYTES = bytes.fromhex("48c7c00f0000000f05")


class DwarfUnwinder:
    """Unwinds with DWARF call frame information; `unwind(sample) -> Trace`, never raises for bad data."""

    name = "dwarf"
    reads_memory = True  # unwind(sample, memory=...) walks through a core dump or a live process too

    def __init__(self, resolver: ModuleResolver | None = None, *, symfs: str | None = None,
                 debug_dirs: Iterable[str] = DEFAULT_DEBUG_DIRS, max_depth: int = 256, debug_frame: bool = True,
                 cache: CfiCache | None = None, cache_dir: str | None = None, frame0: bool = True,
                 fp_chain: bool | None = None) -> None:
        """`frame0=False` keeps to CFI alone, also where no FDE covers the sampled pc; `fp_chain` (default:
        as `frame0`) follows the frame pointer where a module's CFI does not cover an address."""
        self.resolver = resolver or ModuleResolver(symfs=symfs, debug_dirs=debug_dirs)
        self.max_depth = max_depth
        self.debug_frame = debug_frame
        self.cache = cache or CfiCache(cache_dir)
        self.frame0 = frame0
        self.fp_chain = frame0 if fp_chain is None else fp_chain
        # the fp unwinder whose frame-0 analysis fills in where no FDE covers the pc
        self._fp: FramePointerUnwinder | None = None
        # Every memo is bounded: LRUs of modules; per module map a rule memo emptied when it passes
        # MEMO_LIMIT entries (checked once per sample, not per lookup) and walk suffixes (walk.SUFFIX_LIMIT).
        self._debug_elves: LRUCache[str, ElfFile | None] = LRUCache(256)
        self._tables: LRUCache[int, tuple[ElfFile, CfiTable | None]] = LRUCache(256)  # id(elf) -> (elf, its table)
        # id(elf) -> (elf, its root ranges)
        self._root_ranges: LRUCache[int, tuple[ElfFile, tuple[RootRange, ...]]] = LRUCache(256)
        self._vdsos: LRUCache[tuple[int, int, bytes | None], Module | None] = LRUCache(16)  # (start, end, build-id)
        # module map (its mappings) -> (the walk's rule memo, its walk suffixes)
        self._maps: LRUCache[tuple[Mapping, ...], tuple[RuleMemo, Suffixes]] = LRUCache(16)
        self._last: tuple[ModuleMap | None, tuple[RuleMemo, Suffixes]] = (None, ({}, {}))
        self._last_table: tuple[ElfFile | None, CfiTable | None] = (None, None)  # _table's last compiled answer
        self.lookups = self.cache_hits = 0

    def unwind(self, sample: Sample, memory: SampleMemory | None = None,
               registers: list[dict[int, int]] | None = None) -> Trace:
        """`memory` (read/read_u64) replaces the sample's stack snapshot + files, e.g. a core file's dump;
        `registers` receives each frame's recovered registers (see walk())."""
        reader = memory if memory is not None else AddressSpace(sample, self.resolver)
        rules, suffixes = self._caches_for_map(sample.modules)
        return walk(sample, lambda address, frame: self._rule_for(reader, address, frame), via=Via.CFI,
                    max_depth=self.max_depth, memory=reader, memo=rules, suffixes=suffixes, registers=registers)

    def _rule_for(self, memory: SampleMemory, address: int, frame: Frame) -> UnwindRule | tuple[UnwindRule, Via] | None:
        """The CFI rule; where no FDE covers frame 0 or an interrupted frame (_init/_fini, hand-written
        stubs), the fp unwinder's exact code analysis, as libunwind and libdw fall back to heuristics.
        Where that does not help either, in a module whose CFI covers other code but not this address
        (V8's builtins, JIT trampolines), the frame-pointer chain, as perf's libunwind goes on there
        (unw_step's frame-chain fallback on -UNW_ENOINFO); not in code without any table (JIT code), where
        perf stops. Both fallbacks record their caller frame with via=fp."""
        rule = self.rule_at(memory, address, frame)
        if rule is not None:
            return rule
        if not frame.is_return_address and self.frame0:
            found = self._frame0_rule(memory, frame)
            if found is not None:
                return found, Via.FP
        if self.fp_chain and self._has_table(memory, address):
            return FRAME_CHAIN, Via.FP
        return None

    def _has_table(self, memory: SampleMemory, address: int) -> bool:
        """Does the module at `address` have CFI at all (whether or not it covers the address)?"""
        module = memory.module_at(address)
        return module is not None and self._table(module.elf) is not None

    def _frame0_rule(self, memory: SampleMemory, frame: Frame) -> UnwindRule | None:
        """The fp unwinder's analysis of the code at frame.pc, persisted per module by the CFI cache
        (importing capstone alone costs a perf run ~25 ms)."""
        module = memory.module_at(frame.pc)
        if module is None:
            return None
        vaddr = module.to_vaddr(frame.pc)
        analyses = self.cache.analyses(module.elf)
        if vaddr in analyses:
            key = analyses[vaddr]
            return rule_from_key(key) if key is not None else None
        if self._fp is None:
            from .fp import FramePointerUnwinder  # capstone loads only when a new address needs it

            self._fp = FramePointerUnwinder(resolver=self.resolver)
        found = self._fp.frame0_rule(frame.pc, memory)
        self.cache.remember_analysis(module.elf, vaddr, found)
        return found

    def _caches_for_map(self, modules: ModuleMap) -> tuple[RuleMemo, Suffixes]:
        """(the walk's rule memo, its remembered suffixes) for one set of mappings."""
        last_map, caches = self._last
        if modules is last_map:
            if len(caches[0]) > MEMO_LIMIT:
                caches[0].clear()
            return caches
        key = tuple(modules)
        found = self._maps.get(key)
        if found is None:
            found = self._maps[key] = ({}, {})
        self._last = (modules, found)
        return found

    def rule_at(self, memory: SampleMemory, address: int, frame: Frame) -> UnwindRule | None:
        """The rule at absolute lookup `address` (pc, or pc - 1 for return addresses)."""
        self.lookups += 1
        module = memory.module_at(address)
        if module is None:
            module = self._vdso_module(memory.sample.modules.find(address))
            if module is None:
                return None
        vaddr = module.to_vaddr(address)
        if not frame.is_return_address and vaddr == module.elf.entry and is_program_entry(module.elf, vaddr):
            return ENTRY_POINT
        for root in self._roots(module.elf):
            if root.low <= vaddr < root.high and (frame.is_return_address or not root.as_caller):
                return ENTRY_POINT
        table = self._table(module.elf)
        if table is None:
            return None
        rule = table.rule_at(vaddr)
        # A return address at rt_sigreturn code is a signal frame even where the CFI says nothing
        # (musl) or where pc - 1 falls into the FDE of the function before the trampoline.
        if rule is None or (frame.is_return_address and rule.kind != FrameKind.SIGNAL):
            code = module.elf.read_vaddr(module.to_vaddr(frame.pc), len(SIGRETURN_BYTES))
            if code == SIGRETURN_BYTES:
                return SIGNAL_FRAME
        return rule

    def _roots(self, elf: ElfFile) -> tuple[RootRange, ...]:
        """unwind.modules.root_ranges(elf), once per file."""
        held = self._root_ranges.get(id(elf))
        if held is None or held[0] is not elf:
            held = self._root_ranges[id(elf)] = (elf, root_ranges(elf))
        return held[1]

    def _vdso_module(self, mapping: Mapping | None) -> Module | None:
        """The [vdso] mapping as a module (its CFI unwinds clock_gettime & co.), when an image is found."""
        if mapping is None or mapping.path != VDSO:
            return None
        key = (mapping.start, mapping.end, mapping.build_id)
        if key not in self._vdsos:
            module = None
            image = vdso_image(mapping.build_id)
            if image is not None:
                try:
                    elf = ElfFile(None, image)
                    module = Module(VDSO, elf, mapping_bias(elf, mapping), mapping)
                except UnwindError:
                    module = None
            self._vdsos[key] = module
        return self._vdsos[key]

    def clear_rule_cache(self) -> None:
        """Forget the per-address rules and walk suffixes (the module tables stay): for benchmarks and
        long-lived processes."""
        self._maps.clear()
        self._last = (None, ({}, {}))

    def prepare(self, elf: ElfFile) -> None:
        """Load (or build and persist) `elf`'s CFI table now, as a walk through it would (unwind batch's warm-up)."""
        self._table(elf)

    def _table(self, elf: ElfFile) -> CfiTable | None:
        last_elf, last_table = self._last_table
        if elf is last_elf:  # the module asked for before, its table compiled (or none): no LRU calls
            return last_table
        held = self._tables.get(id(elf))
        if held is not None and held[0] is elf and not (isinstance(held[1], LazyCfi)
                                                        and held[1].compiled >= self.cache.lazy_limit):
            table = held[1]
        else:
            try:
                table = self.cache.get(elf, self._debug_elf(elf) if self.debug_frame else None)
            except (UnwindError, OSError):
                table = None
            self._tables[id(elf)] = (elf, table)
        # a lazy table is asked for again each time: it is swapped for the compiled one once it has grown
        self._last_table = (elf, table) if not isinstance(table, LazyCfi) else (None, None)
        return table

    def _debug_elf(self, elf: ElfFile) -> ElfFile | None:
        key = elf.path or ""
        if key not in self._debug_elves:
            found = None
            try:
                path = find_debug_file(elf, self.resolver.debug_dirs)
                found = ElfFile(path) if path else None
            except (UnwindError, OSError):
                found = None
            self._debug_elves[key] = found
        return self._debug_elves[key]
