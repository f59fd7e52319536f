"""The `lbr` unwinder: the call stack read off a sample's LBR call-stack buffer, optionally stitched as
perf --stitch-lbr.

Each call entry (source = the call instruction) gives the return address source + the call's
length (decoded with capstone from the mapped file). In call-stack mode every entry is a live
call, newest first. A buffer of "any branch" records is replayed oldest to newest, calls pushing
and returns popping. A chain is complete (`end`) only when its outermost return address lies in the process's
entry function (the one holding the ELF entry point, `_start`): a full buffer lost its oldest
calls, and so did one that overflowed and then shrank through returns, though it is not full.
Otherwise the trace stops with `lbr-exhausted`, unless the previous sample of the thread
shares those entries and its own chain was complete (stitching).
"""

from __future__ import annotations

import capstone
from cachetools import LRUCache

from formats.errors import UnwindError

from ..memory import AddressSpace, MemoryReader
from ..model import BranchEntry, Frame, ModuleMap, Sample, StopReason, Trace, Via
from ..modules import Module, ModuleResolver
from ..prologue import FunctionIndexCache

# perf_branch_entry.type (bits 20-23): PERF_BR_CALL, PERF_BR_IND_CALL, PERF_BR_RET. A record without
# types (hardware call-stack mode without PERF_SAMPLE_BRANCH_TYPE_SAVE) holds calls only.
CALL_TYPES, RET_TYPE = (4, 5), 6
ENTRY_STUB_SIZE = 64  # glibc's and musl's x86-64 _start, with room to spare


def branch_type(entry: BranchEntry) -> int:
    return entry.flags >> 20 & 0xF


def call_entries(entries: tuple[BranchEntry, ...]) -> tuple[list[BranchEntry], bool]:
    """The live calls, newest first, and whether the record is complete (no return popped past its start)."""
    types = [branch_type(e) for e in entries]
    if not any(types) or all(t in CALL_TYPES for t in types):
        return list(entries), True
    stack: list[BranchEntry] = []
    complete = True
    for entry, kind in zip(reversed(entries), reversed(types)):  # oldest first
        if kind in CALL_TYPES:
            stack.append(entry)
        elif kind == RET_TYPE:
            if stack:
                stack.pop()
            else:
                complete = False
    return stack[::-1], complete


class LbrUnwinder:
    """`lbr`: frames from the sampled LBR stack; `depth` is the hardware buffer size, `stitch` as perf --stitch-lbr."""

    name = "lbr"
    reads_memory = True  # unwind(sample, memory=...) walks through a core dump or a live process too

    def __init__(self, resolver: ModuleResolver | None = None, depth: int = 32, stitch: bool = False,
                 max_depth: int = 256) -> None:
        self.resolver = resolver or ModuleResolver()
        self.depth = depth
        self.max_depth = max_depth
        self.stitch = stitch
        # (module path, file offset) or (None, address) -> length of the call instruction there
        self._lengths: LRUCache[tuple[str | None, int], int | None] = LRUCache(maxsize=65536)
        self._previous: dict[int, tuple[list[BranchEntry], bool]] = {}  # tid -> (stitched calls, complete)
        self._functions = FunctionIndexCache()
        self._cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)

    def call_length(self, memory: MemoryReader, modules: ModuleMap, source: int) -> int | None:
        """Length of the call instruction at `source` (cached per module and address); memory has read(addr, n)."""
        module = modules.find(source)
        key = (module.path if module else None, module.file_offset(source) if module else source)
        if key in self._lengths:
            return self._lengths[key]
        length: int | None = None
        for size in (16, 8, 7, 6, 5, 3, 2):
            try:
                code = memory.read(source, size)
            except UnwindError:
                continue
            insn: tuple[int, int, str, str] | None = next(self._cs.disasm_lite(code, source, 1), None)
            if insn is not None and insn[2].split()[-1] == "call":
                length = insn[1]
            break
        self._lengths[key] = length
        return length

    def in_entry_function(self, modules: ModuleMap, address: int) -> bool:
        """Whether `address` lies in the function holding its module's ELF entry point (`_start`)."""
        mapping = modules.find(address)
        module: Module | None = self.resolver.module_for(mapping) if mapping is not None else None
        if module is None:
            return False
        vaddr = module.to_vaddr(address)
        entry: int = module.elf.entry  # unpacked from the ELF header, so untyped there
        function = self._functions.get(module.elf, self.resolver.debug_dirs).find(vaddr)
        if function is not None and function.start <= vaddr < function.start + function.size:
            return function.start <= entry < function.start + max(function.size, 1)
        return entry <= vaddr < entry + ENTRY_STUB_SIZE  # no symbol: _start stubs are 30-50 bytes

    def _reaches_entry(self, sample: Sample, calls: list[BranchEntry]) -> bool:
        return self.in_entry_function(sample.modules, calls[-1].source)

    def stitched(self, tid: int, calls: list[BranchEntry]) -> list[BranchEntry]:
        """Extend an incomplete chain with the previous sample's older calls from where the two agree.

        Unlike perf (full buffers only) any chain that does not reach _start is stitched, since an
        overflowed buffer shrinks incomplete; but only at an unambiguous point: the oldest call
        must occur once in the previous chain (recursion repeats identical call entries).
        """
        previous, _ = self._previous.get(tid, ([], False))
        oldest = calls[-1]
        matches = [i for i, entry in enumerate(previous) if entry == oldest]
        return calls + previous[matches[0] + 1:] if len(matches) == 1 else calls

    def unwind(self, sample: Sample, memory: MemoryReader | None = None) -> Trace:
        """`memory` (optional, as fp/dwarf take it) is where call instructions are decoded from."""
        regs = sample.registers
        if regs.pc is None:
            return Trace((), StopReason.BAD_RULE)
        frames = [Frame(regs.pc, regs.sp, None, Via.CONTEXT, False)]
        calls, replayed = call_entries(sample.lbr)
        recorded = len(calls)  # entries past these come from the previous sample: via=stitched
        if self.stitch and calls and not self._reaches_entry(sample, calls):
            calls = self.stitched(sample.tid, calls)[:self.max_depth]
        outermost = calls[-1].source if calls else regs.pc
        complete = replayed and self.in_entry_function(sample.modules, outermost)
        stop = StopReason.END if complete else StopReason.LBR_EXHAUSTED
        if self.stitch:
            self._previous[sample.tid] = (calls, complete)
        reader = memory if memory is not None else AddressSpace(sample, self.resolver)
        for i, entry in enumerate(calls):
            length = self.call_length(reader, sample.modules, entry.source)
            if length is None:
                return Trace(tuple(frames), StopReason.BAD_MEMORY)
            frames.append(Frame(entry.source + length, None, None, Via.LBR if i < recorded else Via.STITCHED, True))
        return Trace(tuple(frames), stop)
