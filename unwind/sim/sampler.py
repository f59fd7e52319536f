"""Sample an emulated run every N instructions (jittered) with registers, stack copy, LBR and exact truth."""

from __future__ import annotations

import json
import os
import random
import re
from typing import IO, Any, Iterable, Iterator

from unicorn.x86_const import (UC_X86_REG_R8, UC_X86_REG_R9, UC_X86_REG_R10, UC_X86_REG_R11, UC_X86_REG_R12,
                               UC_X86_REG_R13, UC_X86_REG_R14, UC_X86_REG_R15, UC_X86_REG_RAX, UC_X86_REG_RBP,
                               UC_X86_REG_RBX, UC_X86_REG_RCX, UC_X86_REG_RDI, UC_X86_REG_RDX, UC_X86_REG_RIP,
                               UC_X86_REG_RSI, UC_X86_REG_RSP)

from ..errors import FormatError, UsageError
from ..model import Registers, Sample
from .lbr import LbrModel, LbrMode
from .machine import Process

# DWARF register number -> unicorn register, in DWARF order (model.Reg).
UC_BY_DWARF = (UC_X86_REG_RAX, UC_X86_REG_RDX, UC_X86_REG_RCX, UC_X86_REG_RBX, UC_X86_REG_RSI, UC_X86_REG_RDI,
               UC_X86_REG_RBP, UC_X86_REG_RSP, UC_X86_REG_R8, UC_X86_REG_R9, UC_X86_REG_R10, UC_X86_REG_R11,
               UC_X86_REG_R12, UC_X86_REG_R13, UC_X86_REG_R14, UC_X86_REG_R15, UC_X86_REG_RIP)
MAX_STACK = 65528  # perf's limit for --call-graph dwarf,SIZE


def capture(proc: Process, stack_size: int = 8192, period: int = 1) -> Sample:
    """A perf-like sample of the process right now: regs, up to `stack_size` bytes from rsp, maps, LBR, truth."""
    uc = proc.uc
    values = {dwarf: uc.reg_read(reg) for dwarf, reg in enumerate(UC_BY_DWARF)}
    sp, pc = values[7], values[16]
    vma = proc.space.find(sp)
    end = min(sp + stack_size, vma.end) if vma is not None else sp
    stack = bytes(uc.mem_read(sp, end - sp)) if end > sp else b""
    return Sample(Registers(values), stack, sp, proc.space.module_map(), lbr=proc.lbr.snapshot(),
                  truth=proc.shadow.truth(pc, sp), pid=proc.pid, tid=proc.tid, time=proc.icount,
                  period=period, comm=proc.comm)


class Simulation:
    """Iterates the samples of one emulated run; `process` stays available for its output and report."""

    def __init__(self, binary: str, args: Iterable[str] = (), period: int = 10_000, seed: int = 0,
                 max_samples: int | None = None, lbr_depth: int = 32, lbr_mode: str = LbrMode.CALL_STACK,
                 stack_size: int = 8192, env: list[str] | None = None, sysroot: str | None = None,
                 stdin: bytes = b"", vdso: bool = False, exec_path: str | None = None) -> None:
        if period < 1:
            raise UsageError("the sampling period must be at least 1 instruction")
        if not 0 < stack_size <= MAX_STACK:
            raise UsageError(f"stack size must be in 1..{MAX_STACK}")
        self.period = period
        self.max_samples = max_samples
        self.stack_size = stack_size
        self.jitter = random.Random(seed)
        self.process = Process(binary, list(args), env, sysroot, seed, LbrModel(lbr_depth, lbr_mode), stdin=stdin,
                               vdso=vdso, exec_path=exec_path)
        self.truth_kinds: list[tuple[int, ...]] = []

    def next_interval(self) -> int:
        """The period jittered by up to +-25% (at least 1), from the seeded generator."""
        spread = self.period // 4
        return max(1, self.period + self.jitter.randint(-spread, spread))

    def __iter__(self) -> Iterator[Sample]:
        taken = 0
        proc = self.process
        while self.max_samples is None or taken < self.max_samples:
            if not proc.step(self.next_interval()):
                return
            self.truth_kinds.append(proc.shadow.truth_kinds(proc.sp))
            yield capture(proc, self.stack_size, self.period)
            taken += 1


def simulate(binary: str, args: Iterable[str] = (), period: int = 10_000, seed: int = 0,
             max_samples: int | None = None, lbr_depth: int = 32, **options: Any) -> Iterator[Sample]:
    """Run `binary args` under the emulator and yield a Sample (with .truth and .lbr) every ~period instructions."""
    return iter(Simulation(binary, args, period, seed, max_samples, lbr_depth, **options))


def truth_record(sample: Sample) -> dict[str, object]:
    """One line of OUT.perf.data.truth.jsonl."""
    return {"time": sample.time, "tid": sample.tid, "frames": [f"{a:#x}" for a in sample.truth or ()]}


def write_truth(samples: Iterable[Sample], out: str | os.PathLike[str] | IO[str]) -> int:
    """Write the truth sidecar, one JSON object per sample in order; returns the count."""
    if isinstance(out, (str, os.PathLike)):
        with open(out, "w") as fh:
            return write_truth(samples, fh)
    n = 0
    for sample in samples:
        out.write(json.dumps(truth_record(sample), separators=(",", ":")) + "\n")
        n += 1
    return n


def read_truth(path: str | os.PathLike[str]) -> list[tuple[int, int, tuple[int, ...]]]:
    """(time, tid, frames) per line of a truth sidecar; a line that is not one raises FormatError."""
    out = []
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, 1):
            if raw.strip():
                out.append(_truth_record(raw, os.fspath(path), number))
    return out


_HEX = re.compile(r"(?:0x)?[0-9a-fA-F]{1,16}")


def _truth_record(raw: bytes, path: str, number: int) -> tuple[int, int, tuple[int, ...]]:
    try:
        rec = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise FormatError(f"line {number}: not UTF-8", path) from None
    except json.JSONDecodeError as exc:
        raise FormatError(f"line {number}: not JSON ({exc.msg})", path) from None
    if not isinstance(rec, dict):
        raise FormatError(f"line {number}: not a JSON object", path)
    time, tid, frames = rec.get("time"), rec.get("tid"), rec.get("frames")
    if type(time) is not int or type(tid) is not int or not isinstance(frames, list):
        raise FormatError(f"line {number}: needs integer time and tid and a frames list", path)
    if not all(isinstance(a, str) and _HEX.fullmatch(a) for a in frames):
        raise FormatError(f"line {number}: frames must be hexadecimal addresses", path)
    return time, tid, tuple(int(a, 16) for a in frames)
