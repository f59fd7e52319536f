"""The `auto` chain: per frame the best source available — ORC or CFI, then frame pointer, then (opt-in) a stack scan.

Each frame's rule comes from the first source that has one; the walk records in `Frame.via`
which source produced each caller frame. Table sources are the registered `orc` and `dwarf`
unwinders, used through their per-address rule lookup (`rule_at(address, frame, memory)`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterable, Iterator

from cachetools import LRUCache

from formats.errors import UnwindError

from ..errors import MemoryReadError
from ..memory import AddressSpace, SampleMemory
from ..model import Frame, ModuleMap, Sample, Trace, Unwinder, Via
from ..modules import ModuleResolver
from ..rules import UnwindRule
from ..walk import walk
from .fp import OUTERMOST, BadFramePointer, FramePointerUnwinder, caller_rbp
from .scan import CallChecker, scan_rule

if TYPE_CHECKING:
    from formats.orc import OrcEntry

    from ..cfi_tables import CfiCache
    from ..modules import Module
    from .orc import ModuleOrc

TableLookup = Callable[[int, Frame, SampleMemory], "UnwindRule | None"]
Found = tuple[UnwindRule, Via]  # a frame's rule and the source that gave it
TABLE_SOURCES = (("orc", Via.ORC), ("dwarf", Via.CFI))


def table_lookup(unwinder: object) -> TableLookup | None:
    """The per-address rule lookup of a table-driven unwinder: `rule_at(memory, address, frame)` (dwarf),
    or `table_for(module).find(vaddr)` + `rule(entry)` (orc)."""
    rule_at: Callable[[SampleMemory, int, Frame], UnwindRule | None] | None = getattr(unwinder, "rule_at", None)
    if rule_at is not None:
        return lambda address, frame, memory: rule_at(memory, address, frame)
    table_for: Callable[[Module], ModuleOrc | None] | None = getattr(unwinder, "table_for", None)
    to_rule: Callable[[OrcEntry], UnwindRule | None] | None = getattr(unwinder, "rule", None)
    if table_for is None or to_rule is None:
        return None

    def orc_rule(address: int, frame: Frame, memory: SampleMemory) -> UnwindRule | None:
        module = memory.module_at(address)
        if module is None:
            return None
        table = table_for(module)
        entry = table.find(module.to_vaddr(address)) if table is not None else None
        return None if entry is None else to_rule(entry)

    return orc_rule


class AutoUnwinder:
    """`auto`: ORC/CFI where the module has tables, frame pointer elsewhere, stack scan last when `scan=True`."""

    name = "auto"
    reads_memory = True  # unwind(sample, memory=...) walks through a core dump or a live process too

    def __init__(self, resolver: ModuleResolver | None = None, max_depth: int = 256, scan: bool = False,
                 sources: Iterable[tuple[str, Via, object]] | None = None, cache_dir: str | None = None,
                 cache: CfiCache | None = None) -> None:
        """`cache_dir` and `cache` go to the table sources that keep tables (dwarf's CFI); `sources`
        replaces those sources."""
        self.resolver = resolver or ModuleResolver()
        self.max_depth = max_depth
        self.fp = FramePointerUnwinder(resolver=self.resolver, max_depth=max_depth)
        self.checker = CallChecker() if scan else None
        # (module map, lookup address, pc) -> (rule, via) | None
        self.table_cache: LRUCache[tuple[ModuleMap, int, int], Found | None] = LRUCache(1 << 16)
        self.tables: list[tuple[Via, TableLookup]] = []
        for _name, via, unwinder in sources if sources is not None else self._load_sources(cache_dir, cache):
            lookup = table_lookup(unwinder)
            if lookup is not None:
                self.tables.append((via, lookup))

    def _load_sources(self, cache_dir: str | None, cache: CfiCache | None) -> Iterator[tuple[str, Via, Unwinder]]:
        from . import get_unwinder

        for name, via in TABLE_SOURCES:  # built-ins: an error building one is a bug and propagates
            yield name, via, get_unwinder(name, resolver=self.resolver, max_depth=self.max_depth,
                                          cache_dir=cache_dir, cache=cache)

    def memory_for(self, sample: Sample) -> AddressSpace:
        return AddressSpace(sample, self.resolver)

    def unwind(self, sample: Sample, memory: SampleMemory | None = None) -> Trace:
        reader = memory if memory is not None else self.memory_for(sample)
        return walk(sample, _Chain(self, sample, reader), via=Via.FP, max_depth=self.max_depth, memory=reader)


class _Chain:
    """The `rule_for` callback of one auto walk; follows rbp for the frame-pointer checks."""

    def __init__(self, auto: AutoUnwinder, sample: Sample, memory: SampleMemory) -> None:
        self.auto = auto
        self.memory = memory
        self.rbp = sample.registers.get(6)
        self.modules = sample.modules
        self._prev: tuple[UnwindRule, Frame] | None = None

    def __call__(self, address: int, frame: Frame) -> Found | None:
        if self._prev is not None:
            try:
                self.rbp = caller_rbp(*self._prev, frame, self.rbp, self.memory)
            except MemoryReadError:
                self.rbp = None
        found = self._choose(address, frame, self._prev[1] if self._prev is not None else None)
        if found is not None:
            self._prev = (found[0], frame)
        return found

    def _choose(self, address: int, frame: Frame, callee: Frame | None) -> Found | None:
        found = self._table_rule(address, frame)
        if found is not None:
            return found
        try:
            rule = self.auto.fp.rule_for(frame, self.memory, self.rbp, callee)
        except (BadFramePointer, MemoryReadError):
            if self.auto.checker is None or frame.sp is None:
                raise
            rule = None
        checker = self.auto.checker
        if rule is not None and (rule is not OUTERMOST or checker is None):
            return rule, Via.FP
        # No usable frame pointer (or rbp == 0 in code without tables, which may just be a
        # general-purpose rbp): scan for a call-checked return address (there is a checker here).
        scanned = scan_rule(self.memory, frame.sp, checker) if checker is not None and frame.sp is not None else None
        if scanned is not None:
            return scanned, Via.SCAN
        return (rule, Via.FP) if rule is not None else None

    def _table_rule(self, address: int, frame: Frame) -> Found | None:
        """(rule, via) from the first table source that covers `address`; cached per module map and address."""
        cache = self.auto.table_cache
        key = (self.modules, address, frame.pc)
        if self.modules is not None and key in cache:
            return cache[key]
        found: Found | None = None
        for via, lookup in self.auto.tables:
            try:
                rule = lookup(address, frame, self.memory)
            except UnwindError:
                rule = None
            if rule is not None:
                found = rule, via
                break
        if self.modules is not None:
            cache[key] = found
        return found
