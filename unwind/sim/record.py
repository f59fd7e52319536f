"""`perf record` for the emulator: samples to a perf.data (REGS_USER, STACK_USER, LBR branch stack) + truth sidecar."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Iterable

from formats.perfdata.constants import PERF_ATTR_FLAG, PERF_SAMPLE_BRANCH
from formats.perfdata.writer import PerfDataWriter, default_attr

from ..model import Reg
from ..perfsession import perf_regs_from_registers
from .machine import RunReport
from .lbr import LbrMode
from .sampler import Simulation, truth_record


@dataclass(frozen=True, slots=True)
class RecordSummary:
    """What a recording run produced."""

    samples: int
    instructions: int
    report: RunReport
    stdout: bytes
    stderr: bytes
    truth_path: str
    truth_kinds: list[tuple[int, ...]]  # per sample, shadow.EntryKind of each truth frame after the pc


def truth_path_for(out: str | os.PathLike[str]) -> str:
    return os.fspath(out) + ".truth.jsonl"


def record(binary: str, out: str | os.PathLike[str], args: Iterable[str] = (), period: int = 10_000, seed: int = 0,
           max_samples: int | None = None, lbr_depth: int = 32, stack_size: int = 8192,
           sysroot: str | None = None, env: list[str] | None = None,
           lbr_mode: str = LbrMode.CALL_STACK, stdin: bytes = b"", vdso: bool = False,
           exec_path: str | None = None) -> RecordSummary:
    """Run `binary` under the emulator; write OUT (perf.data) and OUT.truth.jsonl, one truth line per sample."""
    sim = Simulation(binary, args, period, seed, max_samples, lbr_depth, lbr_mode, stack_size=stack_size, env=env,
                     sysroot=sysroot, stdin=stdin, vdso=vdso, exec_path=exec_path)
    # branch types are saved (PERF_BR_* in each entry), as perf record -j ...,save_type would
    kind = PERF_SAMPLE_BRANCH.CALL_STACK if LbrMode(lbr_mode) is LbrMode.CALL_STACK else PERF_SAMPLE_BRANCH.ANY
    # what `perf record --call-graph dwarf,SIZE -j u,call_stack,save_type -d` asks the kernel for: CALLCHAIN with the
    # user part excluded (left to DWARF unwinding of REGS_USER + STACK_USER), and every file mapping, not only code
    attr = default_attr(stack_size=stack_size, period=period, callchain=True)
    flags = attr.flags | PERF_ATTR_FLAG.EXCLUDE_CALLCHAIN_USER | PERF_ATTR_FLAG.MMAP_DATA
    branches = PERF_SAMPLE_BRANCH.USER | PERF_SAMPLE_BRANCH.TYPE_SAVE | kind
    attr = attr._replace(flags=flags, branch_sample_type=branches)
    proc = sim.process
    emitted: set[tuple[int, int, int, str]] = set()
    samples = 0
    truth_path = truth_path_for(out)
    with PerfDataWriter(out, attr=attr) as writer, \
            open(truth_path, "w") as truth:
        writer.comm(proc.pid, proc.pid, proc.comm, time=0)
        announced = 0
        for sample in sim:
            for tid, born in proc.spawned[announced:]:  # new threads: FORK + COMM, as perf sees clone()
                writer.fork(proc.pid, proc.pid, tid, proc.pid, time=born)
                writer.comm(proc.pid, tid, proc.comm, time=born, exec_=False)
            announced = len(proc.spawned)
            for vma in proc.space.vmas:
                key = (vma.start, vma.end, vma.offset, vma.path or "")
                if vma.path and (vma.path == "[vdso]" or not vma.path.startswith("[")) and key not in emitted:
                    emitted.add(key)
                    writer.mmap2(proc.pid, proc.pid, vma.start, vma.end - vma.start, vma.offset, vma.path,
                                 vma.build_id, prot=vma.perms, time=sample.time)
            stack = sample.stack if isinstance(sample.stack, bytes) else bytes(sample.stack)
            writer.sample(proc.pid, sample.tid, sample.time, sample.registers.values[Reg.RIP],  # captured, never absent
                          perf_regs_from_registers(sample.registers), stack,
                          [(e.source, e.target, e.flags) for e in sample.lbr], period=sample.period)
            truth.write(json.dumps(truth_record(sample), separators=(",", ":")) + "\n")
            samples += 1
        writer.fork(proc.pid, 1, proc.pid, 1, time=proc.icount, exit_=True)
    return RecordSummary(samples, proc.icount, proc.report, proc.stdout(), bytes(proc.output[2]), truth_path,
                         sim.truth_kinds)
