"""Replay a perf.data recording: per-process module maps over time, and each SAMPLE as a model Sample."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from formats.perfdata import (BuildIdRecord, CallchainContext, CommRecord, Mmap2Record, MmapRecord, OtherRecord,
                              PerfDataReader, RecordType, RegsDump, SampleRecord, TaskRecord, X86Reg)
from formats.perfdata.constants import MISC_COMM_EXEC, PERF_CONTEXT_MAX, Misc

from .model import BranchEntry, Mapping, ModuleMap, Reg, Registers, Sample

# perf's x86 register numbers -> DWARF numbers (flags and segment registers have no DWARF slot here).
PERF_TO_DWARF = {
    X86Reg.AX: Reg.RAX, X86Reg.BX: Reg.RBX, X86Reg.CX: Reg.RCX, X86Reg.DX: Reg.RDX, X86Reg.SI: Reg.RSI,
    X86Reg.DI: Reg.RDI, X86Reg.BP: Reg.RBP, X86Reg.SP: Reg.RSP, X86Reg.IP: Reg.RIP,
    X86Reg.R8: Reg.R8, X86Reg.R9: Reg.R9, X86Reg.R10: Reg.R10, X86Reg.R11: Reg.R11,
    X86Reg.R12: Reg.R12, X86Reg.R13: Reg.R13, X86Reg.R14: Reg.R14, X86Reg.R15: Reg.R15,
}
DWARF_TO_PERF = {dwarf: perf for perf, dwarf in PERF_TO_DWARF.items()}
KERNEL_SPACE = 1 << 63              # x86-64 kernel addresses have the top bit set
_ANONYMOUS = {"", "//anon"}


def registers_from_dump(dump: RegsDump | None) -> Registers:
    """DWARF-numbered registers from a REGS_USER dump; an abi of NONE gives no registers."""
    if dump is None or not dump.abi:
        return Registers({})
    return Registers({PERF_TO_DWARF[n]: v for n, v in dump.by_number().items() if n in PERF_TO_DWARF})


def perf_regs_from_registers(registers: Registers) -> dict[int, int]:
    """perf register number -> value, what PerfDataWriter.sample takes."""
    return {DWARF_TO_PERF[reg]: value for reg, value in registers.values.items() if reg in DWARF_TO_PERF}


def split_callchain(chain: Iterable[int], cpumode: int = Misc.USER) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(kernel, user) addresses of a sampled callchain, context markers dropped; guest/hv parts ignored."""
    kernel: list[int] = []
    user: list[int] = []
    context = None
    for address in chain:
        if address >= PERF_CONTEXT_MAX:
            context = address
            continue
        if context is None:         # no marker yet: perf falls back to the sample's cpu mode
            target = kernel if (cpumode & Misc.CPUMODE_MASK) == Misc.KERNEL or address >= KERNEL_SPACE else user
        elif context == CallchainContext.KERNEL:
            target = kernel
        elif context == CallchainContext.USER:
            target = user
        else:
            continue
        target.append(address)
    return tuple(kernel), tuple(user)


@dataclass(slots=True)
class SessionStats:
    """Counts of what the replay did, next to the reader's record statistics."""

    samples: int = 0
    samples_without_maps: int = 0
    samples_without_regs: int = 0
    unordered: int = 0              # records older than the last flushed round (perf warns the same)
    processes: int = 0


@dataclass(slots=True)
class _Process:
    mappings: list[Mapping] = field(default_factory=list)
    snapshot: ModuleMap | None = None


class PerfSession:
    """Records in perf's delivery order (sorted by time per FINISHED_ROUND) with process state applied."""

    def __init__(self, source: str | Path | bytes | PerfDataReader, ordered: bool = True):
        self.reader = source if isinstance(source, PerfDataReader) else PerfDataReader(source)
        self.ordered = ordered
        self.stats = SessionStats()
        self._procs: dict[int, _Process] = {}
        self._kernel: list[Mapping] = []
        self._comms: dict[int, str] = {}
        self._build_ids: dict[str, bytes] = {}

    # -- public -------------------------------------------------------------------------------------

    def samples(self) -> Iterator[Sample]:
        """Every sample as a model Sample, with the module map of its process at its time."""
        for record in self.events():
            if isinstance(record, SampleRecord):
                yield self.to_sample(record)

    def events(self) -> Iterator[object]:
        """Every record after its effect on the process state has been applied."""
        for record in self._delivery_order():
            self._apply(record)
            yield record

    def modules(self, pid: int) -> ModuleMap:
        """The current module map of a process (kernel mappings included)."""
        proc = self._procs.get(pid)
        if proc is None:
            return ModuleMap(self._kernel)
        if proc.snapshot is None:
            proc.snapshot = ModuleMap(self._with_build_ids(proc.mappings + self._kernel))
        return proc.snapshot

    def comm(self, pid: int, tid: int) -> str:
        return self._comms.get(tid) or self._comms.get(pid) or ""

    def to_sample(self, rec: SampleRecord) -> Sample:
        """Convert one SAMPLE under the current state."""
        pid, tid = rec.pid or 0, rec.tid or 0
        regs = registers_from_dump(rec.regs_user)
        if rec.regs_user is None or not rec.regs_user.abi:
            self.stats.samples_without_regs += 1
            if rec.ip is not None and (rec.misc & Misc.CPUMODE_MASK) == Misc.USER:
                regs = Registers({Reg.RIP: rec.ip})
        stack = b""
        if rec.stack_user:
            stack = rec.stack_user[:rec.stack_user_dyn_size or 0]
        kernel, user = split_callchain(rec.callchain or (), rec.misc)
        modules = self.modules(pid)
        if pid not in self._procs:
            self.stats.samples_without_maps += 1
        self.stats.samples += 1
        return Sample(
            registers=regs, stack=stack, stack_base=regs.sp or 0, modules=modules,
            kernel_callchain=kernel, user_callchain=user,
            lbr=tuple(BranchEntry(b.source, b.target, b.flags) for b in rec.branches or ()),
            pid=pid, tid=tid, time=rec.time or 0, period=rec.period if rec.period is not None else 1,
            comm=self.comm(pid, tid), cpu=rec.cpu)

    # -- ordering -----------------------------------------------------------------------------------

    def _delivery_order(self) -> Iterator[object]:
        """perf's ordered_events: queue timed records; each FINISHED_ROUND flushes up to the previous round's max."""
        if not self.ordered:
            yield from self.reader.records()
            return
        queue: list[tuple[int, int, object]] = []
        seq = max_time = limit = last_flushed = 0
        for record in self.reader.records():
            time = _time_of(record)
            if time is None:
                if isinstance(record, OtherRecord) and record.type == RecordType.FINISHED_ROUND:
                    while queue and queue[0][0] <= limit:
                        last_flushed, _, ready = heapq.heappop(queue)
                        yield ready
                    limit = max_time
                yield record
                continue
            if time < last_flushed:
                self.stats.unordered += 1
            max_time = max(max_time, time)
            seq += 1
            heapq.heappush(queue, (time, seq, record))
        while queue:
            yield heapq.heappop(queue)[2]

    # -- state --------------------------------------------------------------------------------------

    def _apply(self, record: object) -> None:
        if isinstance(record, (MmapRecord, Mmap2Record)):
            self._map(record)
        elif isinstance(record, CommRecord):
            if record.misc & MISC_COMM_EXEC and record.pid == record.tid and record.pid in self._procs:
                self._procs[record.pid] = _Process()     # exec: the old image is gone
            self._comms[record.tid] = record.comm
        elif isinstance(record, TaskRecord) and record.kind == RecordType.FORK:
            parent = self._procs.get(record.ppid)
            if record.pid != record.ppid and parent is not None:
                self._procs[record.pid] = _Process(list(parent.mappings))
            if record.ptid in self._comms and record.tid not in self._comms:
                self._comms[record.tid] = self._comms[record.ptid]
        elif isinstance(record, BuildIdRecord):
            self._build_ids[record.filename] = record.build_id
            for proc in self._procs.values():
                proc.snapshot = None

    def _map(self, rec: MmapRecord | Mmap2Record) -> None:
        if rec.misc & Misc.MMAP_DATA or rec.length == 0:
            return                                      # data mappings never hold a pc
        path = None if rec.filename in _ANONYMOUS else rec.filename
        mapping = Mapping(rec.start, rec.start + rec.length, rec.pgoff, path, getattr(rec, "build_id", None))
        if rec.pid == -1 or (rec.misc & Misc.CPUMODE_MASK) == Misc.KERNEL:
            self._kernel = _overlay(self._kernel, mapping)
            for proc in self._procs.values():
                proc.snapshot = None
            return
        proc = self._procs.get(rec.pid)
        if proc is None:
            proc = self._procs[rec.pid] = _Process()
            self.stats.processes += 1
        proc.mappings = _overlay(proc.mappings, mapping)
        proc.snapshot = None

    def _with_build_ids(self, mappings: list[Mapping]) -> list[Mapping]:
        if not self._build_ids:
            self._build_ids = {b.filename: b.build_id for b in self.reader.build_ids}
        return [m if m.build_id is not None or m.path not in self._build_ids
                else Mapping(m.start, m.end, m.offset, m.path, self._build_ids[m.path]) for m in mappings]


def _overlay(mappings: list[Mapping], new: Mapping) -> list[Mapping]:
    """Insert `new`, trimming the parts of older mappings it covers (as mmap over a range does)."""
    out = []
    for m in mappings:
        if m.end <= new.start or m.start >= new.end:
            out.append(m)
            continue
        if m.start < new.start:
            out.append(Mapping(m.start, new.start, m.offset, m.path, m.build_id))
        if m.end > new.end:
            out.append(Mapping(new.end, m.end, m.offset + (new.end - m.start), m.path, m.build_id))
    out.append(new)
    return out


def _time_of(record: object) -> int | None:
    if isinstance(record, SampleRecord):
        return record.time
    sample_id = getattr(record, "sample_id", None)
    return None if sample_id is None else sample_id.time


def read_samples(source: str | Path | bytes) -> list[Sample]:
    """Every sample of a recording, converted."""
    return list(PerfSession(source).samples())
