"""Replay a perf.data recording: per-process module maps over time, and each SAMPLE as a model Sample."""

from __future__ import annotations

import os
from bisect import bisect_right
from operator import itemgetter
from typing import Callable, Iterable, Iterator

from cachetools import LRUCache

from formats.perfdata import (BuildIdRecord, CommRecord, Mmap2Record, MmapRecord, OtherRecord, PerfDataReader,
                              RegsDump, SampleRecord, TaskRecord)
from formats.perfdata.constants import (PERF_CONTEXT, PERF_CONTEXT_MAX, PERF_RECORD,
                                        PERF_RECORD_MISC, PERF_REG_X86)

from .model import BranchEntry, Mapping, ModuleMap, Reg, Registers, Sample

# perf's x86 register numbers -> DWARF numbers (flags and segment registers have no DWARF slot here).
X = PERF_REG_X86
PERF_TO_DWARF = {
    X.AX: Reg.RAX, X.BX: Reg.RBX, X.CX: Reg.RCX, X.DX: Reg.RDX, X.SI: Reg.RSI, X.DI: Reg.RDI, X.BP: Reg.RBP,
    X.SP: Reg.RSP, X.IP: Reg.RIP, X.R8: Reg.R8, X.R9: Reg.R9, X.R10: Reg.R10, X.R11: Reg.R11, X.R12: Reg.R12,
    X.R13: Reg.R13, X.R14: Reg.R14, X.R15: Reg.R15,
}
del X
DWARF_TO_PERF: dict[int, int] = {dwarf: perf for perf, dwarf in PERF_TO_DWARF.items()}
KERNEL_SPACE = 1 << 63              # x86-64 kernel addresses have the top bit set
_ANONYMOUS = {"", "//anon"}
_CPUMODE_MASK, _KERNEL, _USER = PERF_RECORD_MISC.CPUMODE_MASK, PERF_RECORD_MISC.KERNEL, PERF_RECORD_MISC.USER
_FORK, _FINISHED_ROUND = PERF_RECORD.FORK, PERF_RECORD.FINISHED_ROUND
_CONTEXT_KERNEL, _CONTEXT_USER = PERF_CONTEXT.KERNEL, PERF_CONTEXT.USER
_time_key = itemgetter(0)
_PROT_READ_EXEC = 5
_RSP = Reg.RSP


Plan = tuple[tuple[Reg, ...], Callable[[tuple[int, ...]], tuple[int, ...]]]


def _plan(mask: int) -> Plan:
    """(DWARF numbers of the dump values we keep, a getter of those values from the dump) for a register
    mask; a PerfSession keeps one per mask its recording uses."""
    bits = [b for b in range(64) if mask >> b & 1]
    kept = [(i, PERF_TO_DWARF[b]) for i, b in enumerate(bits) if b in PERF_TO_DWARF]
    indices = [i for i, _ in kept]
    pick = itemgetter(*indices) if len(indices) > 1 else (lambda values: tuple(values[i] for i in indices))
    return tuple(reg for _, reg in kept), pick


def registers_from_dump(dump: RegsDump | None) -> Registers:
    """DWARF-numbered registers from a REGS_USER dump; an abi of NONE gives no registers."""
    if dump is None or not dump.abi:
        return Registers({})
    regs, pick = _plan(dump.mask)
    return Registers(dict(zip(regs, pick(dump.values))))


def perf_regs_from_registers(registers: Registers) -> dict[int, int]:
    """perf register number -> value, what PerfDataWriter.sample takes."""
    return {DWARF_TO_PERF[reg]: value for reg, value in registers.values.items() if reg in DWARF_TO_PERF}


def split_callchain(chain: Iterable[int], cpumode: int = _USER) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(kernel, user) addresses of a sampled callchain, context markers dropped; guest/hv parts ignored."""
    kernel: list[int] = []
    user: list[int] = []
    context = None
    for address in chain:
        if address >= PERF_CONTEXT_MAX:
            context = address
            continue
        if context is None:         # no marker yet: perf falls back to the sample's cpu mode
            target = kernel if (cpumode & _CPUMODE_MASK) == _KERNEL or address >= KERNEL_SPACE else user
        elif context == _CONTEXT_KERNEL:
            target = kernel
        elif context == _CONTEXT_USER:
            target = user
        else:
            continue
        target.append(address)
    return tuple(kernel), tuple(user)


class SessionStats:
    """Counts of what the replay did, next to the reader's record statistics."""

    __slots__ = ("samples", "samples_without_maps", "samples_without_regs", "unordered", "processes")

    def __init__(self) -> None:
        self.samples = 0
        self.samples_without_maps = 0
        self.samples_without_regs = 0
        self.unordered = 0              # records older than the last flushed round (perf warns the same)
        self.processes = 0

    def __repr__(self) -> str:
        return "SessionStats(" + ", ".join(f"{name}={getattr(self, name)}" for name in self.__slots__) + ")"


class _Process:
    """A process's mappings, and the module map made of them (None until asked for after a change)."""

    __slots__ = ("mappings", "snapshot")

    def __init__(self, mappings: list[Mapping] | None = None):
        self.mappings: list[Mapping] = [] if mappings is None else mappings
        self.snapshot: ModuleMap | None = None


class PerfSession:
    """Records in perf's delivery order (sorted by time per FINISHED_ROUND) with process state applied."""

    def __init__(self, source: str | os.PathLike[str] | bytes | PerfDataReader, ordered: bool = True):
        self.reader = source if isinstance(source, PerfDataReader) else PerfDataReader(source)
        self.ordered = ordered
        self.stats = SessionStats()
        self._procs: dict[int, _Process] = {}
        self._kernel: list[Mapping] = []
        self._comms: dict[int, str] = {}
        self._build_ids: dict[str, bytes] = {}
        # register mask -> its plan: a recording uses one or two masks; bounded against hostile ones
        self._plans: LRUCache[int, Plan] = LRUCache(16)
        self._last_plan: tuple[int | None, Plan] = (None, _plan(0))  # the mask of the sample before, its plan

    # -- public -------------------------------------------------------------------------------------

    @property
    def kernel_build_id(self) -> bytes | None:
        """The build-id the recording holds for the host kernel (`[kernel.kallsyms]`), if any."""
        return next((b.build_id for b in self.reader.build_ids if b.filename == "[kernel.kallsyms]"), None)

    def samples(self) -> Iterator[Sample]:
        """Every sample as a model Sample, with the module map of its process at its time."""
        apply, to_sample = self._apply, self.to_sample
        for record in self._delivery_order():
            if isinstance(record, SampleRecord):        # a sample changes no state
                yield to_sample(record)
            else:
                apply(record)

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
        """Convert one SAMPLE under the current state; the stack is a view into the recording, not a copy."""
        pid, tid = rec.pid or 0, rec.tid or 0
        dump = rec.regs_user
        if dump is not None and dump.abi:
            mask, plan = self._last_plan
            if dump.mask != mask:  # a recording uses one or two masks: the LRU only when it changes
                found = self._plans.get(dump.mask)
                if found is None:
                    found = self._plans[dump.mask] = _plan(dump.mask)
                plan = found
                self._last_plan = (dump.mask, plan)
            numbers, pick = plan
            regs = Registers(dict(zip(numbers, pick(dump.values))))
        else:
            self.stats.samples_without_regs += 1
            ip = rec.ip
            regs = Registers({Reg.RIP: ip} if ip is not None and (rec.misc & _CPUMODE_MASK) == _USER else {})
        stack = rec.stack_user[:rec.stack_user_dyn_size or 0] if rec.stack_user else b""
        kernel, user = split_callchain(rec.callchain, rec.misc) if rec.callchain else ((), ())
        proc = self._procs.get(pid)
        if proc is None:
            self.stats.samples_without_maps += 1
        self.stats.samples += 1
        comms = self._comms
        # positional, in Sample's field order (keywords cost ~0.4 µs a sample); test_perfsession checks each field
        return Sample(
            regs, stack, regs.values.get(_RSP) or 0,
            proc.snapshot if proc is not None and proc.snapshot is not None else self.modules(pid),
            kernel, user,
            tuple(BranchEntry(b.source, b.target, b.flags) for b in rec.branches) if rec.branches else (),
            None, pid, tid, rec.time or 0, rec.period if rec.period is not None else 1,
            comms.get(tid) or comms.get(pid) or "", rec.cpu)

    # -- ordering -----------------------------------------------------------------------------------

    def _delivery_order(self) -> Iterator[object]:
        """perf's ordered_events: queue timed records; each FINISHED_ROUND flushes up to the previous round's max.

        The queue stays a sorted list while records arrive in time order, as they mostly do, so a flush
        is one slice; the first record older than the newest queued one makes it a heap (a sorted list
        already is one) until a flush empties it.
        """
        if not self.ordered:
            yield from self.reader.records()
            return
        from heapq import heappop, heappush     # here: the import costs more than most recordings need

        queue: list[tuple[int, int, object]] = []
        in_order = True
        seq = max_time = limit = last_flushed = newest = 0     # newest: the last time queued while in order
        for record in self.reader.records():
            time = record.time if isinstance(record, SampleRecord) else _time_of(record)
            if time is None:
                if isinstance(record, OtherRecord) and record.type == _FINISHED_ROUND:
                    if in_order:
                        count = bisect_right(queue, limit, key=_time_key)
                        if count:
                            ready = queue[:count]
                            del queue[:count]
                            last_flushed = ready[-1][0]
                            for item in ready:
                                yield item[2]
                    else:
                        while queue and queue[0][0] <= limit:
                            last_flushed, _, oldest = heappop(queue)
                            yield oldest
                        in_order = not queue
                    limit = max_time
                yield record
                continue
            if time < last_flushed:
                self.stats.unordered += 1
            if time > max_time:
                max_time = time
            seq += 1
            if in_order and (time >= newest or not queue):
                queue.append((time, seq, record))
                newest = time
            else:
                in_order = False
                heappush(queue, (time, seq, record))
        if in_order:
            for item in queue:
                yield item[2]
        else:
            while queue:
                yield heappop(queue)[2]

    # -- state --------------------------------------------------------------------------------------

    def _apply(self, record: object) -> None:
        if isinstance(record, (MmapRecord, Mmap2Record)):
            self._map(record)
        elif isinstance(record, CommRecord):
            # exec keeps the process's mappings, as perf 6.1 does (thread__set_comm only flushes its unwind
            # state): a sample inside execve holds the old image's pc, and the new image's mmaps, when
            # they arrive, overlay the old ones (_overlay) as perf's maps__fixup_overlappings does
            self._comms[record.tid] = record.comm
        elif isinstance(record, TaskRecord) and record.kind == _FORK:
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
        if rec.misc & PERF_RECORD_MISC.MMAP_DATA or rec.length == 0:
            return                                      # data mappings never hold a pc
        path = None if rec.filename in _ANONYMOUS else rec.filename
        # MMAP2 says the protection; a plain MMAP without the data flag is an executable mapping
        mapping = Mapping(rec.start, rec.start + rec.length, rec.pgoff, path, getattr(rec, "build_id", None),
                          getattr(rec, "prot", _PROT_READ_EXEC))
        if rec.pid == -1 or (rec.misc & _CPUMODE_MASK) == _KERNEL:
            self._kernel = _overlay(self._kernel, mapping)
            for other in self._procs.values():
                other.snapshot = None
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
                else Mapping(m.start, m.end, m.offset, m.path, self._build_ids[m.path], m.prot) for m in mappings]


def _overlay(mappings: list[Mapping], new: Mapping) -> list[Mapping]:
    """Insert `new`, trimming the parts of older mappings it covers (as mmap over a range does)."""
    out = []
    for m in mappings:
        if m.end <= new.start or m.start >= new.end:
            out.append(m)
            continue
        if m.start < new.start:
            out.append(Mapping(m.start, new.start, m.offset, m.path, m.build_id, m.prot))
        if m.end > new.end:
            out.append(Mapping(new.end, m.end, m.offset + (new.end - m.start), m.path, m.build_id, m.prot))
    out.append(new)
    return out


def _time_of(record: object) -> int | None:
    if isinstance(record, SampleRecord):
        return record.time
    sample_id = getattr(record, "sample_id", None)
    return None if sample_id is None else sample_id.time


def read_samples(source: str | os.PathLike[str] | bytes) -> list[Sample]:
    """Every sample of a recording, converted."""
    return list(PerfSession(source).samples())
