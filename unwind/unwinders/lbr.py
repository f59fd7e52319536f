"""The `lbr` unwinder: the call stack read off a sample's LBR call-stack buffer, optionally stitched as perf --stitch-lbr.

Each call entry (source = the call instruction) gives the return address source + the call's
length (decoded with capstone from the mapped file). In call-stack mode every entry is a live
call, newest first. A buffer of "any branch" records is replayed oldest to newest, calls pushing
and returns popping. A full buffer means older frames fell off: the trace stops with
`lbr-exhausted`, unless the previous sample of the thread shares those entries (stitching).
"""

from __future__ import annotations

import capstone
from cachetools import LRUCache

from formats.errors import UnwindError

from ..memory import AddressSpace
from ..model import BranchEntry, Frame, Sample, StopReason, Trace, Via
from ..modules import ModuleResolver

# perf_branch_entry.type (bits 20-23): PERF_BR_CALL, PERF_BR_IND_CALL, PERF_BR_RET. A record without
# types (hardware call-stack mode without PERF_SAMPLE_BRANCH_TYPE_SAVE) holds calls only.
CALL_TYPES, RET_TYPE = (4, 5), 6


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

    def __init__(self, resolver: ModuleResolver | None = None, depth: int = 32, stitch: bool = False, **_options):
        self.resolver = resolver or ModuleResolver()
        self.depth = depth
        self.stitch = stitch
        self._lengths: LRUCache = LRUCache(maxsize=65536)
        self._previous: dict[int, tuple[list[BranchEntry], bool]] = {}  # tid -> (stitched calls, complete)
        self._cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)

    def call_length(self, memory, modules, source: int) -> int | None:
        """Length of the call instruction at `source` (cached per module and address); memory has read(addr, n)."""
        module = modules.find(source)
        key = (module.path if module else None, module.file_offset(source) if module else source)
        if key in self._lengths:
            return self._lengths[key]
        length = None
        for size in (16, 8, 7, 6, 5, 3, 2):
            try:
                code = memory.read(source, size)
            except UnwindError:
                continue
            insn = next(self._cs.disasm_lite(code, source, 1), None)
            if insn is not None and insn[2].split()[-1] == "call":
                length = insn[1]
            break
        self._lengths[key] = length
        return length

    def stitched(self, tid: int, calls: list[BranchEntry]) -> tuple[list[BranchEntry], bool]:
        """Extend a full buffer with the previous sample's older calls from where the two agree.

        The result is complete only if the previous sample's (stitched) chain was complete.
        """
        previous, complete = self._previous.get(tid, ([], False))
        oldest = calls[-1]
        for i, entry in enumerate(previous):
            if entry == oldest:
                return calls + previous[i + 1:], complete
        return calls, False

    def unwind(self, sample: Sample, memory=None) -> Trace:
        """`memory` (optional, as fp/dwarf take it) is where call instructions are decoded from."""
        regs = sample.registers
        if regs.pc is None:
            return Trace((), StopReason.BAD_RULE)
        frames = [Frame(regs.pc, regs.sp, None, Via.CONTEXT, False)]
        calls, complete = call_entries(sample.lbr)
        full = len(sample.lbr) >= self.depth
        stop = StopReason.END if complete and not full else StopReason.LBR_EXHAUSTED
        if full and self.stitch and calls:
            calls, joined = self.stitched(sample.tid, calls)
            if joined:
                stop = StopReason.END
        if self.stitch:
            self._previous[sample.tid] = (calls, stop == StopReason.END)
        memory = memory if memory is not None else AddressSpace(sample, self.resolver)
        for entry in calls:
            length = self.call_length(memory, sample.modules, entry.source)
            if length is None:
                return Trace(tuple(frames), StopReason.BAD_MEMORY)
            frames.append(Frame(entry.source + length, None, None, Via.LBR, True))
        return Trace(tuple(frames), stop)
