"""perf.data replay: samples as model Samples, checked against `perf script` / `perf report -D`."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

_TESTS = Path(__file__).resolve().parents[1]
if str(_TESTS / "formats") not in sys.path:
    sys.path.insert(0, str(_TESTS / "formats"))

from formats.elf import ElfFile  # noqa: E402
from formats.perfdata import (Branch, CommRecord, OtherRecord, PerfDataReader, RecordType, RegsDump,  # noqa: E402
                              SampleId, SampleRecord, X86Reg)
from formats.perfdata.writer import PerfDataWriter  # noqa: E402
from perfdata.perf_peer import build_loop, dump, ns_time, perf_out, record  # noqa: E402
from unwind.model import BranchEntry, Reg, Registers, Sample  # noqa: E402
from unwind.perfsession import PerfSession, perf_regs_from_registers, split_callchain  # noqa: E402


@pytest.fixture(scope="module")
def loop(tmp_path_factory) -> Path:
    return build_loop(tmp_path_factory.mktemp("session"))


def _script_samples(path: Path, fields: str) -> list[tuple[str, list[str]]]:
    """(header line, callchain lines) per sample of `perf script --ns -F fields`."""
    out: list[tuple[str, list[str]]] = []
    for line in perf_out("script", "-i", str(path), "--ns", "-F", fields).splitlines():
        if not line.strip():
            continue
        if line.startswith("\t") or line.startswith("        "):
            out[-1][1].append(line.strip())
        else:
            out.append((line, []))
    return out


def test_dwarf_samples_registers_and_stack(loop):
    path = record(loop.parent / "dwarf.data", [str(loop), "800"], "--call-graph", "dwarf,4096")
    session = PerfSession(path)
    samples = list(session.samples())
    theirs = sorted((ev for ev in dump(path) if ev.kind == "SAMPLE"), key=lambda ev: (ev.time, ev.offset))
    assert len(samples) == len(theirs) > 30 and session.stats.samples_without_regs == 0
    names = {Reg.RAX: "AX", Reg.RBX: "BX", Reg.RCX: "CX", Reg.RDX: "DX", Reg.RSI: "SI", Reg.RDI: "DI",
             Reg.RBP: "BP", Reg.RSP: "SP", Reg.RIP: "IP", **{Reg(8 + i): f"R{8 + i}" for i in range(8)}}
    for sample, ev in zip(samples, theirs):
        assert sample.time == ev.time
        assert dict(sample.registers.values) == {reg: ev.uregs[name] for reg, name in names.items()}
        assert len(sample.stack) == ev.ustack and sample.stack_base == ev.uregs["SP"]
        mapping = sample.modules.find(sample.registers.pc)
        assert mapping is not None and mapping.path in (str(loop), "/usr/lib/x86_64-linux-gnu/libc.so.6",
                                                        "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "[vdso]")
    assert sum(s.modules.find(s.registers.pc).path == str(loop) for s in samples) > len(samples) // 2


def test_fp_callchains_split_like_perf_script(loop):
    # the loop spends its time in user code, dd in the kernel: both halves of the callchain show up
    script = f"{loop} 600; dd if=/dev/zero of=/dev/null bs=64k count=30000 2>/dev/null"
    path = record(loop.parent / "fp.data", ["/bin/sh", "-c", script], "-g")
    ours = list(PerfSession(path).samples())
    theirs = _script_samples(path, "tid,time,ip")
    assert len(ours) == len(theirs) > 30
    kernel_seen = 0
    for sample, (head, chain) in zip(ours, theirs):
        tid, time = head.split()[:2]
        assert (sample.tid, sample.time) == (int(tid), ns_time(time))
        # perf prints user addresses map-relative (address - start + pgoff), kernel ones as they are
        shown = [a if a >= 1 << 63 or sample.modules.find(a) is None else sample.modules.find(a).file_offset(a)
                 for a in sample.kernel_callchain + sample.user_callchain]
        assert [f"{a:x}" for a in shown] == chain
        assert all(a >= 1 << 63 for a in sample.kernel_callchain) and all(a < 1 << 63 for a in sample.user_callchain)
        kernel_seen += bool(sample.kernel_callchain)
        assert sample.registers.pc == (sample.user_callchain[0] if not sample.kernel_callchain else None)
    assert kernel_seen and any(len(s.user_callchain) >= 4 for s in ours)


def test_maps_follow_fork_and_exec(loop):
    path = record(loop.parent / "sh.data", ["/bin/sh", "-c", f"{loop} 600; {loop} 600"], "-g")
    session = PerfSession(path)
    ours = list(session.samples())
    theirs = _script_samples(path, "comm,pid,tid,time,ip,dso")
    assert len(ours) == len(theirs) > 30
    tids = set()
    for sample, (head, chain) in zip(ours, theirs):
        comm, pidtid, time = head.split()[:3]
        assert (sample.comm, f"{sample.pid}/{sample.tid}", sample.time) == (comm, pidtid, ns_time(time))
        for address, line in zip(sample.kernel_callchain + sample.user_callchain, chain):
            dso = line.split(" ", 1)[1].strip("()")
            if address < 1 << 63 and dso != "[unknown]":
                assert sample.modules.find(address).path == dso
            elif address < 1 << 63:
                assert sample.modules.find(address) is None
        tids.add(sample.tid)
    assert len(tids) >= 2 and session.stats.samples_without_maps == 0


def test_samples_inside_execve_keep_the_old_image(loop):
    """A sample taken inside execve (after the COMM exec record, before the new image runs) holds the old
    image's pc: perf keeps a process's mappings across exec and lets the new image's mmaps overlay them,
    so its callchain ends in the old libc's execve. Ours must resolve it the same way (it once dropped
    the mappings at exec, leaving such samples unresolved)."""
    loop_sh = "i=0; while [ $i -lt 600 ]; do /bin/true; i=$((i+1)); done"
    in_execve = 0
    # Where the samples land is the machine's doing: a fast one finishes most execve calls between two ticks
    # (no sample inside one in a full-suite run here once), so the loop is recorded again, at most four times.
    for attempt in range(4):
        path = record(loop.parent / f"exec{attempt}.data", ["/bin/sh", "-c", loop_sh], "-g", "-F", "4000")
        ours = list(PerfSession(path).samples())
        theirs = _script_samples(path, "comm,tid,time,ip,sym,dso")
        assert len(ours) == len(theirs) > 100
        for sample, (head, chain) in zip(ours, theirs):
            shown = [a if a >= 1 << 63 or sample.modules.find(a) is None else sample.modules.find(a).file_offset(a)
                     for a in sample.kernel_callchain + sample.user_callchain]
            assert [f"{a:x}" for a in shown] == [line.split()[0] for line in chain], head
            user = chain[len(sample.kernel_callchain):]
            if head.startswith("true ") and user and "execve (" in user[0] and sample.kernel_callchain:
                in_execve += 1
                assert sample.modules.find(sample.user_callchain[0]).path.endswith("libc.so.6")
        if in_execve:
            return
    pytest.skip("no sample landed inside execve in four recordings: the case this test is about did not occur")


def test_split_callchain_markers():
    k, u = 2**64 - 128, 2**64 - 512
    assert split_callchain([k, 0xFFFFFFFF81000000, 0xFFFFFFFF81000100, u, 0x401000, 0x401100]) == \
        ((0xFFFFFFFF81000000, 0xFFFFFFFF81000100), (0x401000, 0x401100))
    assert split_callchain([2**64 - 2048, 0x1234, u, 0x401000]) == ((), (0x401000,))


def test_simulator_round_trip(tmp_path, loop):
    regs = Registers({Reg(i): 0x1000 + i for i in range(17)})
    path = tmp_path / "sim.data"
    build_id = ElfFile(str(loop)).build_id
    with PerfDataWriter(path) as w:
        w.comm(50, 51, "sim", time=1)
        w.mmap2(50, 51, 0x555555554000, 0x5000, 0, str(loop), build_id=build_id, time=1)
        w.sample(50, 51, 100, regs.pc, regs=perf_regs_from_registers(regs), stack=b"\xaa" * 300,
                 branches=[Branch(0x555555555184, 0x555555555167, 0)], period=7)
    (sample,) = PerfSession(path).samples()
    assert sample.registers == regs and sample.stack == b"\xaa" * 300 and sample.stack_base == regs.sp
    assert sample.lbr == (BranchEntry(0x555555555184, 0x555555555167, 0),)
    assert (sample.pid, sample.tid, sample.time, sample.period, sample.comm) == (50, 51, 100, 7, "sim")
    mapping = sample.modules.find(0x555555555184)
    assert (mapping.path, mapping.build_id, mapping.offset) == (str(loop), build_id, 0)
    # perf agrees on the register file we wrote
    (ev,) = [e for e in dump(path) if e.kind == "SAMPLE"]
    assert ev.uregs["IP"] == regs.pc and ev.uregs["SP"] == regs.sp and ev.uregs["DX"] == regs[Reg.RDX]
    assert ev.uregs[X86Reg.R15.name] == regs[Reg.R15]


def _ordered_like_perf(records):
    """perf's ordered_events as the plain heap it is (the specification _delivery_order must keep)."""
    import heapq

    queue, out = [], []
    seq = max_time = limit = last_flushed = unordered = 0
    for rec in records:
        time = rec.time if isinstance(rec, SampleRecord) else getattr(rec.sample_id, "time", None)
        if time is None:
            if isinstance(rec, OtherRecord) and rec.type == RecordType.FINISHED_ROUND:
                while queue and queue[0][0] <= limit:
                    last_flushed, _, ready = heapq.heappop(queue)
                    out.append(ready)
                limit = max_time
            out.append(rec)
            continue
        unordered += time < last_flushed
        max_time = max(max_time, time)
        seq += 1
        heapq.heappush(queue, (time, seq, rec))
    return out + [heapq.heappop(queue)[2] for _ in range(len(queue))], unordered


class _Records(PerfDataReader):
    """A reader that replays a list (no file)."""

    def __init__(self, records):
        self._records_list = records

    def records(self):
        return iter(self._records_list)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.integers(0, 60), st.just("round"), st.just("untimed")), max_size=80),
       st.integers(0, 3))
def test_delivery_order_is_perfs(items, clock):
    """Mostly ascending times (the sorted fast path) with jumps back (the heap), rounds and untimed records."""
    records, now = [], 0
    for item in items:
        if item == "round":
            records.append(OtherRecord(RecordType.FINISHED_ROUND, b""))
        elif item == "untimed":
            records.append(CommRecord(1, 1, "x"))
        else:
            now = now + item if item % 7 or not clock else max(0, now - item)     # every 7th step goes back
            records.append(SampleRecord(time=now, pid=1, tid=1) if item % 2 else
                           CommRecord(1, 1, "y", sample_id=SampleId(1, 1, now)))
    session = PerfSession(_Records(records))
    ours = list(session._delivery_order())
    theirs, unordered = _ordered_like_perf(records)
    assert [id(r) for r in ours] == [id(r) for r in theirs] and session.stats.unordered == unordered


def test_to_sample_fills_every_field():
    """to_sample builds Sample positionally: every field lands where its name says."""
    rec = SampleRecord(ip=0x401000, pid=5, tid=6, time=7, cpu=3, period=9, misc=2,
                       callchain=(2**64 - 128, 0xFFFFFFFF81000000, 2**64 - 512, 0x401000),
                       branches=(Branch(0x401010, 0x401020, 1),),
                       regs_user=RegsDump(2, 1 << 7 | 1 << 8, (0x7FFD0000, 0x401000)),
                       stack_user=memoryview(bytes(range(64))), stack_user_dyn_size=40)
    session = PerfSession(_Records([]))
    session._comms[6] = "six"
    sample = session.to_sample(rec)
    expect = dict(registers=Registers({Reg.RSP: 0x7FFD0000, Reg.RIP: 0x401000}), stack=bytes(range(40)),
                  stack_base=0x7FFD0000, modules=sample.modules, kernel_callchain=(0xFFFFFFFF81000000,),
                  user_callchain=(0x401000,), lbr=(BranchEntry(0x401010, 0x401020, 1),), truth=None, pid=5, tid=6,
                  time=7, period=9, comm="six", cpu=3)
    assert type(sample) is Sample and sample._asdict() == expect
    assert len(sample.modules) == 0 and session.stats.samples_without_maps == 1     # no maps for pid 5
