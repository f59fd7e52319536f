"""The perf.data reader against `perf report -D` and `perf script` on real recordings."""

from __future__ import annotations

from formats.perfdata import (CommRecord, Mmap2Record, PerfDataReader, RecordType, SampleRecord, SampleType,
                              X86Reg, read_perf_data)
from perfdata.perf_peer import dump, mmap2_fields, ns_time, perf_out, record, sample_fields


def _samples_by_offset(path):
    reader = PerfDataReader(path)
    return reader, {off: rec for off, rec in reader.records_with_offsets() if isinstance(rec, SampleRecord)}


def test_dwarf_samples_equal_perf_dump(dwarf_data):
    reader, ours = _samples_by_offset(dwarf_data)
    theirs = [ev for ev in dump(dwarf_data) if ev.kind == "SAMPLE"]
    assert reader.stats.skipped == 0
    assert len(theirs) > 50 and sorted(ours) == sorted(ev.offset for ev in theirs)
    attr = reader.attrs[0]
    assert attr.sample_type & SampleType.REGS_USER and attr.sample_type & SampleType.STACK_USER
    for ev in theirs:
        rec = ours[ev.offset]
        pid, tid, ip, period, addr = sample_fields(ev)
        assert (rec.time, rec.pid, rec.tid, rec.ip, rec.period) == (ev.time, pid, tid, ip, period)
        assert list(rec.callchain) == ev.callchain
        regs = rec.regs_user.by_number()
        assert {X86Reg(n).name: v for n, v in regs.items()} == ev.uregs
        assert rec.stack_user_dyn_size == ev.ustack and len(rec.stack_user) == 8192


def test_mmap2_and_comm_equal_perf_dump(dwarf_data, loop_exe):
    reader = PerfDataReader(dwarf_data)
    recs = dict(reader.records_with_offsets())
    events = dump(dwarf_data)
    mmaps = [ev for ev in events if ev.kind == "MMAP2"]
    assert any(mmap2_fields(ev)[-1] == str(loop_exe) for ev in mmaps)
    for ev in mmaps:
        rec = recs[ev.offset]
        assert isinstance(rec, Mmap2Record)
        pid, tid, start, length, pgoff, maj, mnr, ino, gen, prot, name = mmap2_fields(ev)
        assert (rec.pid, rec.tid, rec.start, rec.length, rec.pgoff) == (pid, tid, start, length, pgoff)
        assert (rec.maj, rec.min, rec.ino, rec.ino_generation, rec.filename) == (maj, mnr, ino, gen, name)
        assert ("x" in prot) == bool(rec.prot & 4) and rec.sample_id.time == ev.time
    comms = [ev for ev in events if ev.kind == "COMM"]
    assert comms
    for ev in comms:
        rec = recs[ev.offset]
        assert isinstance(rec, CommRecord)
        assert ev.text.rstrip().endswith(f"{rec.comm}:{rec.pid}/{rec.tid}")
        assert ev.text.startswith(" exec:") == bool(rec.misc & 0x2000)


def test_perf_script_ips_and_times(fp_data):
    text = perf_out("script", "-i", str(fp_data), "-G", "--ns", "-F", "pid,tid,time,ip")
    theirs = []
    for line in text.splitlines():
        pidtid, time, ip = line.split()
        pid, tid = pidtid.split("/")
        theirs.append((int(pid), int(tid), ns_time(time), int(ip, 16)))
    _, recs = read_perf_data(fp_data)
    ours = sorted((r.pid, r.tid, r.time, r.ip) for r in recs if isinstance(r, SampleRecord))
    assert ours == sorted(theirs) and len(ours) > 50


def test_fp_callchains_equal_perf_dump(fp_data):
    _, ours = _samples_by_offset(fp_data)
    theirs = [ev for ev in dump(fp_data) if ev.kind == "SAMPLE"]
    assert sorted(ours) == sorted(ev.offset for ev in theirs)
    for ev in theirs:
        assert list(ours[ev.offset].callchain) == ev.callchain
    assert any(len(ev.callchain) > 4 for ev in theirs)


def test_pipe_mode(pipe_data):
    reader, ours = _samples_by_offset(pipe_data)
    assert reader.pipe and reader.header is None
    assert reader.stats.by_type[RecordType.HEADER_ATTR] == len(reader.attrs) >= 1
    assert reader.stats.by_type[RecordType.HEADER_FEATURE] > 0 and reader.stats.skipped == 0
    theirs = [ev for ev in dump(pipe_data) if ev.kind == "SAMPLE"]
    # perf counts pipe-mode offsets from the end of the 16-byte pipe header; ours are file offsets.
    assert len(theirs) > 50 and sorted(ours) == sorted(ev.offset + 16 for ev in theirs)
    for ev in theirs:
        rec = ours[ev.offset + 16]
        assert (rec.time, rec.pid, rec.tid, rec.ip) == (ev.time, *sample_fields(ev)[:3])
        assert list(rec.callchain) == ev.callchain


def test_zstd_compressed(zstd_data):
    reader, recs = read_perf_data(zstd_data)
    assert reader.stats.by_type[RecordType.COMPRESSED] > 0 and reader.stats.skipped == 0
    ours = sorted((r.time, r.pid, r.tid, r.ip, tuple(r.callchain)) for r in recs if isinstance(r, SampleRecord))
    theirs = sorted((ev.time, *sample_fields(ev)[:3], tuple(ev.callchain))
                    for ev in dump(zstd_data) if ev.kind == "SAMPLE")
    assert len(ours) > 50 and ours == theirs
    names = {r.filename for r in recs if isinstance(r, Mmap2Record)}
    assert any(n.endswith("/loop") for n in names)


def test_two_events_pick_their_attr_by_id(perf_dir, loop_exe):
    path = record(perf_dir / "two.data", [str(loop_exe), "600"], "-e", "cpu-clock,task-clock")
    reader, recs = read_perf_data(path)
    assert len(reader.attrs) == 2 and all(a.ids for a in reader.attrs)
    names = {0: "cpu-clock", 1: "task-clock"}
    ours = sorted((r.time, r.ip, names[r.attr_index]) for r in recs if isinstance(r, SampleRecord))
    theirs = []
    for line in perf_out("script", "-i", str(path), "--ns", "-F", "time,event,ip").splitlines():
        time, event, ip = line.split()
        theirs.append((ns_time(time), int(ip, 16), event.rstrip(":")))
    assert ours == sorted(theirs) and {e for _, _, e in ours} == {"cpu-clock", "task-clock"}


def test_identifier_with_different_sample_types(perf_dir, loop_exe):
    path = record(perf_dir / "ident.data", [str(loop_exe), "600"], "-e", "cpu-clock/call-graph=fp/,task-clock")
    reader, recs = read_perf_data(path)
    assert all(a.sample_type & SampleType.IDENTIFIER for a in reader.attrs)
    samples = [r for r in recs if isinstance(r, SampleRecord)]
    assert {r.attr_index for r in samples} == {0, 1}
    assert all((r.callchain is not None) == (r.attr_index == 0) for r in samples)
    theirs = sorted((ev.time, sample_fields(ev)[2], tuple(ev.callchain)) for ev in dump(path) if ev.kind == "SAMPLE")
    assert sorted((r.time, r.ip, tuple(r.callchain or ())) for r in samples) == theirs


def test_group_read_values(perf_dir, loop_exe):
    path = record(perf_dir / "group.data", [str(loop_exe), "600"], "-e", "{cpu-clock,task-clock}:S")
    reader, ours = _samples_by_offset(path)
    theirs = [ev for ev in dump(path) if ev.kind == "SAMPLE"]
    assert theirs and sorted(ours) == sorted(ev.offset for ev in theirs)
    for ev in theirs:
        read = ours[ev.offset].read
        assert [(v.id, v.value) for v in read.values] == ev.read and len(ev.read) == 2


def test_mmap2_build_id_variant(perf_dir, loop_exe):
    path = record(perf_dir / "bidmmap.data", [str(loop_exe), "300"], "--buildid-mmap")
    recs = dict(PerfDataReader(path).records_with_offsets())
    mmaps = [ev for ev in dump(path) if ev.kind == "MMAP2"]
    with_id = [ev for ev in mmaps if " <" in ev.text]
    assert any(ev.text.endswith(str(loop_exe)) for ev in with_id)
    for ev in mmaps:
        rec = recs[ev.offset]
        printed = ev.text.split(" <", 1)[1].split(">", 1)[0] if " <" in ev.text else None
        assert (rec.build_id.hex() if rec.build_id is not None else None) == printed
        assert ev.text.rstrip().endswith(rec.filename)


def test_build_id_feature_equals_perf_buildid_list(dwarf_data):
    reader = PerfDataReader(dwarf_data)
    listed = sorted(tuple(line.split(" ", 1)) for line in perf_out("buildid-list", "-i", str(dwarf_data)).splitlines())
    assert listed and sorted((b.build_id.hex(), b.filename) for b in reader.build_ids) == listed


def test_pipe_mode_tracepoint_raw_and_tracing_data(perf_dir, loop_exe):
    """A tracepoint in pipe mode: TRACING_DATA carries a payload past its header size; samples carry RAW."""
    # sched_process_exit fires exactly once, when the workload ends (sched_switch needs the scheduler to
    # switch it out while recorded, which a quiet machine may never do)
    path = record(perf_dir / "tp.data", [str(loop_exe), "300"], "-e", "sched:sched_process_exit", "-e", "cpu-clock",
                  pipe=True)
    reader, ours = _samples_by_offset(path)
    assert reader.stats.by_type[RecordType.HEADER_TRACING_DATA] == 1 and reader.stats.skipped == 0
    theirs = [ev for ev in dump(path) if ev.kind == "SAMPLE"]
    assert theirs and sorted(ours) == sorted(ev.offset + 16 for ev in theirs)
    for ev in theirs:
        rec = ours[ev.offset + 16]
        assert (rec.time, rec.pid, rec.tid, rec.ip) == (ev.time, *sample_fields(ev)[:3])
        is_tracepoint = reader.attrs[rec.attr_index].sample_type & SampleType.RAW
        assert bool(is_tracepoint) == (rec.raw is not None)
        if rec.raw is not None:
            assert (len(rec.raw) + 4) % 8 == 0 and len(rec.raw) > 8
    assert any(r.raw for r in ours.values()) and any(r.raw is None for r in ours.values())
