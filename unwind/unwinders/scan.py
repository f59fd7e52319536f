"""The opt-in stack scan: find the next stack word that is a return address, proven by a call before it.

A candidate must point into an executable mapping whose module we can read, and the bytes just
before it must decode (capstone) as a `call` that ends exactly there. The rule is then
`cfa = slot + 8, ra at cfa - 8` relative to the current rsp; other registers are kept, as
callee-saved. Heuristic by nature: only `auto` uses it, and only when asked.
"""

from __future__ import annotations

from typing import Callable

from capstone import CS_ARCH_X86, CS_MODE_64, Cs
from cachetools import LRUCache

from formats.errors import UnwindError

from ..errors import MemoryReadError
from ..memory import AddressSpace, MemoryReader
from ..model import Frame, Sample, Trace, Via
from ..modules import Module, ModuleResolver
from ..rules import RSP, UnwindRule, offset_rule
from ..walk import walk

CALL_LENGTHS = (5, 6, 2, 3, 7, 4)  # e8 rel32 first, then ff /2 forms by frequency
_disasm = Cs(CS_ARCH_X86, CS_MODE_64)


class CallChecker:
    """Is `address` right after a call instruction? Cached per address."""

    def __init__(self, size: int = 1 << 14) -> None:
        self._cache: LRUCache[int, bool] = LRUCache(size)

    def after_call(self, memory: MemoryReader, address: int) -> bool:
        found = self._cache.get(address)
        if found is None:
            found = self._cache[address] = self._check(memory, address)
        return found

    @staticmethod
    def _check(memory: MemoryReader, address: int) -> bool:
        module_at: Callable[[int], Module | None] | None = getattr(memory, "module_at", None)
        module = module_at(address) if module_at else None
        if module is None or address < 8:
            return False
        code = module.elf.read_vaddr(module.to_vaddr(address) - 7, 7)
        if code is None:
            try:
                code = memory.read(address - 7, 7)
            except UnwindError:
                return False
        insn: tuple[int, int, str, str]  # capstone's (address, size, mnemonic, operands)
        for length in CALL_LENGTHS:
            for insn in _disasm.disasm_lite(code[7 - length:], address - length, 1):
                if insn[1] == length and insn[2] == "call":
                    return True
        return False


def scan_rule(memory: MemoryReader, sp: int, checker: CallChecker, max_words: int = 512,
              skip: int = 0) -> UnwindRule | None:
    """The rule taking the first proven return address at or above sp + skip; None when none is found."""
    for i in range(skip // 8, max_words):
        slot = sp + 8 * i
        try:
            word = memory.read_u64(slot)
        except MemoryReadError:
            return None
        if word > 0xFFF and checker.after_call(memory, word):
            return offset_rule(RSP, 8 * i + 8)
    return None


class StackScanUnwinder:
    """`scan`: every step is a stack scan (useful alone only as a baseline; `auto` falls back to it)."""

    name = "scan"
    reads_memory = True  # unwind(sample, memory=...) walks through a core dump or a live process too

    def __init__(self, resolver: ModuleResolver | None = None, max_depth: int = 256, max_words: int = 512) -> None:
        self.resolver = resolver or ModuleResolver()
        self.max_depth = max_depth
        self.max_words = max_words
        self.checker = CallChecker()

    def memory_for(self, sample: Sample) -> AddressSpace:
        return AddressSpace(sample, self.resolver)

    def unwind(self, sample: Sample, memory: MemoryReader | None = None) -> Trace:
        reader = memory if memory is not None else self.memory_for(sample)
        return walk(sample, lambda address, frame: self.rule_at(frame, reader), via=Via.SCAN,
                    max_depth=self.max_depth, memory=reader)

    def rule_at(self, frame: Frame, memory: MemoryReader) -> UnwindRule | None:
        if frame.sp is None:
            return None
        return scan_rule(memory, frame.sp, self.checker, self.max_words)
