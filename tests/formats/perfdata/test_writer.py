"""The perf.data writer: exact round trip through our reader, and `perf script` / `perf report -D` read it."""

from __future__ import annotations

import subprocess

import pytest

from formats.elf import ElfFile
from formats.perfdata import (Branch, BranchSampleType, CallchainContext, CommRecord, Mmap2Record, ReadFormat,
                              ReadValue, ReadValues, RegsDump, SampleId, SampleRecord, SampleType, TaskRecord,
                              X86Reg, X86_64_REGS_MASK, encode_sample, read_perf_data)
from formats.perfdata.constants import RecordType
from formats.perfdata.writer import PerfDataWriter, default_attr
from perfdata.perf_peer import dump, ns_time, perf_out

BASE = 0x555555554000


def _nm(path) -> dict[str, int]:
    out = subprocess.run(["nm", str(path)], capture_output=True, text=True, check=True).stdout
    return {parts[2]: int(parts[0], 16) for parts in (l.split() for l in out.splitlines())
            if len(parts) == 3 and parts[1] in "Tt"}


def _write_loop_file(path, exe, endian="<", **kw):
    """comm + mmap2 of the loop binary + one sample per function, registers numbered 1..20."""
    syms = _nm(exe)
    with PerfDataWriter(path, endian=endian, **kw) as w:
        w.comm(4242, 4243, "simloop", time=1_000)
        w.mmap2(4242, 4243, BASE, 0x5000, 0, str(exe), build_id=ElfFile(str(exe)).build_id, time=1_000)
        for i, name in enumerate(("leaf", "mid", "top", "main")):
            regs = dict(zip(range(24), range(1, 25)))
            regs[X86Reg.IP], regs[X86Reg.SP] = BASE + syms[name] + 4, 0x7FFD0000 - 16 * i
            w.sample(4242, 4243, 2_000_000 + 1000 * i, BASE + syms[name] + 4, regs=regs,
                     stack=bytes(range(256)) * 2, branches=[(BASE + syms["top"] + 8, BASE + syms[name], 0)])
    return syms


def test_round_trip_every_record_kind(tmp_path):
    path = tmp_path / "rt.data"
    attr = default_attr(callchain=True, hw_index=True, stack_size=128)
    regs = tuple(range(100, 100 + X86_64_REGS_MASK.bit_count()))
    sample = SampleRecord(ip=0x401000, pid=7, tid=8, time=30, period=5, callchain=(CallchainContext.USER, 0x401000),
                          branch_hw_index=1, branches=(Branch(0x401010, 0x401020, 0x31), Branch(1, 2, 0)),
                          regs_user=RegsDump(2, X86_64_REGS_MASK, regs), stack_user=bytes(range(128)),
                          stack_user_dyn_size=100, misc=2)
    with PerfDataWriter(path, attr=attr) as w:
        w.comm(7, 8, "prog", time=10)
        w.mmap2(7, 8, 0x400000, 0x2000, 0x1000, "/bin/prog", build_id=b"\x01" * 20, time=11,
                build_id_in_record=True)
        w.mmap2(7, 8, 0x500000, 0x1000, 0, "/lib/x.so", time=12)
        w.fork(9, 7, 9, 8, time=20)
        w.sample(7, 8, 30, 0x401000, regs=regs, stack=bytes(range(128)), dyn_size=100, period=5,
                 callchain=(CallchainContext.USER, 0x401000), branch_hw_index=1,
                 branches=[Branch(0x401010, 0x401020, 0x31), (1, 2, 0)])
        w.fork(9, 7, 9, 8, time=40, exit_=True)
    reader, recs = read_perf_data(path)
    assert reader.stats.skipped == 0 and reader.attrs == [attr]
    assert recs == [
        CommRecord(7, 8, "prog", 0x2002, SampleId(7, 8, 10)),
        Mmap2Record(7, 8, 0x400000, 0x2000, 0x1000, "/bin/prog", build_id=b"\x01" * 20, misc=0x4002,
                    sample_id=SampleId(7, 8, 11)),
        Mmap2Record(7, 8, 0x500000, 0x1000, 0, "/lib/x.so", misc=2, sample_id=SampleId(7, 8, 12)),
        TaskRecord(RecordType.FORK, 9, 7, 9, 8, 20, 0, SampleId(9, 9, 20)),
        sample,
        TaskRecord(RecordType.EXIT, 9, 7, 9, 8, 40, 0, SampleId(9, 9, 40)),
    ]
    assert [(b.filename, b.build_id) for b in reader.build_ids] == [("/bin/prog", b"\x01" * 20)]


def test_perf_script_reads_written_file(tmp_path, loop_exe):
    path = tmp_path / "w.data"
    syms = _write_loop_file(path, loop_exe)
    text = perf_out("script", "-i", str(path), "--ns", "-G", "-F", "comm,pid,tid,time,ip,sym,dso")
    rows = [line.split() for line in text.splitlines()]
    assert [(r[0], r[1], ns_time(r[2]), int(r[3], 16), r[4], r[5]) for r in rows] == [
        ("simloop", "4242/4243", 2_000_000 + 1000 * i, BASE + syms[name] + 4, name, f"({loop_exe})")
        for i, name in enumerate(("leaf", "mid", "top", "main"))]
    header = perf_out("report", "--header-only", "-i", str(path))
    assert f"{ElfFile(str(loop_exe)).build_id.hex()} {loop_exe}" in perf_out("buildid-list", "-i", str(path))
    assert "# arch : x86_64" in header and "contains samples with branch stack" in header


def test_perf_dump_of_written_registers_stack_and_lbr(tmp_path, loop_exe):
    path = tmp_path / "w.data"
    syms = _write_loop_file(path, loop_exe)
    samples = [ev for ev in dump(path) if ev.kind == "SAMPLE"]
    assert len(samples) == 4
    for i, (ev, name) in enumerate(zip(samples, ("leaf", "mid", "top", "main"))):
        expect = {X86Reg(n).name: n + 1 for n in range(24) if X86_64_REGS_MASK >> n & 1}
        expect["IP"], expect["SP"] = BASE + syms[name] + 4, 0x7FFD0000 - 16 * i
        assert ev.uregs == expect and ev.ustack == 512
        # perf prints a call-stack LBR as entry 0's target, then every entry's source
        assert [a for a, _ in ev.branches] == [BASE + syms[name], BASE + syms["top"] + 8]


def test_big_endian_file_reads_the_same(tmp_path, loop_exe):
    little, big = tmp_path / "le.data", tmp_path / "be.data"
    _write_loop_file(little, loop_exe)
    _write_loop_file(big, loop_exe, endian=">")
    assert big.read_bytes()[:8] == b"2ELIFREP"
    le_reader, le_recs = read_perf_data(little)
    be_reader, be_recs = read_perf_data(big)
    assert be_reader.endian == ">" and be_recs == le_recs and be_reader.attrs == le_reader.attrs
    assert be_reader.build_ids == le_reader.build_ids
    argv = ("script", "--ns", "-G", "-F", "comm,pid,tid,time,ip,sym,dso")
    assert perf_out(*argv, "-i", str(big)) == perf_out(*argv, "-i", str(little))
    le_dump = [(e.uregs, e.ustack, e.branches) for e in dump(little) if e.kind == "SAMPLE"]
    assert [(e.uregs, e.ustack, e.branches) for e in dump(big) if e.kind == "SAMPLE"] == le_dump


S = SampleType
EVERY_FIELD = (S.IDENTIFIER | S.IP | S.TID | S.TIME | S.ADDR | S.ID | S.STREAM_ID | S.CPU | S.PERIOD | S.READ
               | S.CALLCHAIN | S.RAW | S.BRANCH_STACK | S.REGS_USER | S.STACK_USER | S.WEIGHT_STRUCT | S.DATA_SRC
               | S.TRANSACTION | S.REGS_INTR | S.PHYS_ADDR | S.CGROUP | S.DATA_PAGE_SIZE | S.CODE_PAGE_SIZE)


@pytest.mark.parametrize("endian", ["<", ">"])
def test_every_sample_field_as_perf_parses_it(tmp_path, endian):
    attr = default_attr(stack_size=64)._replace(sample_type=int(EVERY_FIELD), ids=(7,), sample_regs_intr=0x3,
                   read_format=int(ReadFormat.GROUP | ReadFormat.ID | ReadFormat.TOTAL_TIME_ENABLED
                                   | ReadFormat.TOTAL_TIME_RUNNING | ReadFormat.LOST),
                   branch_sample_type=int(BranchSampleType.ANY | BranchSampleType.USER | BranchSampleType.HW_INDEX))
    rec = SampleRecord(
        ip=0x401000, pid=5, tid=6, time=100, addr=0xDEAD, id=7, stream_id=8, cpu=1, period=9,
        read=ReadValues((ReadValue(11, 7, 0), ReadValue(12, 13, 1)), 1000, 900),
        callchain=(CallchainContext.USER, 0x401000, 0x401100), raw=b"abcd", branch_hw_index=3,
        branches=(Branch(0x401010, 0x401020, 1 | 5 << 4), Branch(0x401030, 0x401040, 2)),
        regs_user=RegsDump(2, attr.sample_regs_user, tuple(range(1, 21))), stack_user=bytes(range(64)),
        stack_user_dyn_size=48, weight=77 | 5 << 32, data_src=0x1234, transaction=0x55,
        regs_intr=RegsDump(2, 3, (0xA, 0xB)), phys_addr=0x9999, cgroup=42, data_page_size=4096,
        code_page_size=2 << 20, misc=2)
    path = tmp_path / "all.data"
    with PerfDataWriter(path, attr=attr, endian=endian) as w:
        w.record(CommRecord(5, 6, "all", 2), SampleId(5, 6, 10, 7, 8, 1))
        w._emit(RecordType.SAMPLE, 2, encode_sample(rec, attr, endian))
    reader, recs = read_perf_data(path)
    assert recs[1] == rec and recs[0].sample_id == SampleId(5, 6, 10, 7, 8, 1)
    (ev,) = [e for e in dump(path) if e.kind == "SAMPLE"]
    assert ev.time == 100 and "5/6: 0x401000 period: 9 addr: 0xdead" in ev.text
    assert ev.callchain == list(rec.callchain) and ev.read == [(7, 11), (13, 12)]
    assert ev.branches == [(0x401010, 0x401020), (0x401030, 0x401040)] and ev.ustack == 48
    assert ev.uregs == {X86Reg(n).name: v for n, v in rec.regs_user.by_number().items()}
    lines = ["... weight: 77,0x5", ". data_src: 0x1234", ".. phys_addr: 0x9999", ".. data page size: 4K",
             ".. code page size: 2M", "... transaction: 55", "...... time enabled 00000000000003e8",
             "...... time running 0000000000000384"]
    if endian == "<":   # perf 6.1 forgets to byte-swap attr.sample_regs_intr of a big-endian file
        lines += ["... intr regs: mask 0x3 ABI 64-bit", ".... AX    0x000000000000000a",
                  ".... BX    0x000000000000000b"]
    for line in lines:
        assert any(d.startswith(line) for d in ev.details), line


def test_perf_dwarf_unwinds_written_samples_like_the_recording(tmp_path, dwarf_data):
    """Samples copied through the writer (regs + stack only) unwind in `perf script` exactly as recorded."""
    _, recs = read_perf_data(dwarf_data)
    path = tmp_path / "copy.data"
    with PerfDataWriter(path, callchain=True, branch=False, stack_size=8192) as w:
        for r in recs:
            if isinstance(r, CommRecord):
                w.record(r, r.sample_id)
            elif isinstance(r, Mmap2Record):
                w.record(r, r.sample_id)
            elif isinstance(r, SampleRecord) and r.misc & 7 == 2:       # user-mode samples
                w.sample(r.pid, r.tid, r.time, r.ip, regs=r.regs_user.values, period=r.period,
                         stack=r.stack_user[:r.stack_user_dyn_size])
    argv = ("script", "--ns", "-F", "tid,time,ip,sym,dso")
    ours = perf_out(*argv, "-i", str(path)).split("\n\n")
    recorded = {block.split("\n", 1)[0]: block for block in perf_out(*argv, "-i", str(dwarf_data)).split("\n\n")}
    assert len(ours) > 30
    assert sum(block.count("\n") >= 4 for block in ours) > 30        # leaf, mid, top, main, libc...
    for block in ours:
        assert block == recorded[block.split("\n", 1)[0]]
