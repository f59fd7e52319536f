"""Bad perf.data input: a FormatError for an unusable header, skipped records with reasons otherwise."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from formats.errors import FormatError
from formats.perfdata import OtherRecord, PerfDataReader, RecordType, SampleRecord, read_perf_data
from formats.perfdata.writer import PerfDataWriter


def _read_all(data: bytes) -> tuple[PerfDataReader, list]:
    reader = PerfDataReader(data)
    return reader, list(reader.records())


def _survives(data: bytes) -> None:
    """Either the header is refused with FormatError, or every record is decoded or skipped."""
    try:
        reader, records = _read_all(data)
    except FormatError:
        return
    assert reader.stats.skipped >= 0 and isinstance(records, list)
    from unwind.perfsession import PerfSession

    for _ in PerfSession(data).samples():
        pass


@pytest.mark.parametrize("blob", [b"", b"PERFILE2", b"NOTPERF!" + bytes(200), b"PERFILE2" + struct.pack("<Q", 99)])
def test_unusable_header_is_a_format_error(blob):
    with pytest.raises(FormatError):
        PerfDataReader(blob)


def test_attr_table_outside_the_file_is_a_format_error(fp_data):
    data = bytearray(fp_data.read_bytes())
    struct.pack_into("<Q", data, 24, len(data) + 4096)        # attrs.offset past the end
    with pytest.raises(FormatError, match="attr table"):
        PerfDataReader(bytes(data))


def test_truncated_data_keeps_earlier_records(fp_data):
    data = fp_data.read_bytes()
    full, records = _read_all(data)
    offsets = [off for off, r in PerfDataReader(data).records_with_offsets() if isinstance(r, SampleRecord)]
    cut = offsets[len(offsets) // 2] + 20                     # in the middle of a sample
    reader, part = _read_all(data[:cut])
    assert [r for r in part if isinstance(r, SampleRecord)] == \
        [r for r in records if isinstance(r, SampleRecord)][:len(offsets) // 2]
    assert reader.stats.skipped >= 1 and any("past end of file" in s.reason or "truncated" in s.reason
                                             for s in reader.stats.skips)


def test_unknown_and_broken_records_are_counted_and_skipped(tmp_path):
    path = tmp_path / "odd.data"
    with PerfDataWriter(path, branch=False, stack_size=64) as w:
        w.comm(1, 1, "a")
        w.record(OtherRecord(200, b"12345678"))                # a type nobody knows
        w.sample(1, 1, 5, 0x1000, regs={}, stack=b"x" * 64)
        w._emit(RecordType.SAMPLE, 2, b"\x01" * 12)             # a sample body too short for its fields
        w.sample(1, 1, 6, 0x2000, regs={}, stack=b"y" * 64)
    reader, recs = read_perf_data(path)
    assert reader.stats.unknown == 1 and reader.stats.by_type[200] == 1
    assert [r.ip for r in recs if isinstance(r, SampleRecord)] == [0x1000, 0x2000]
    assert reader.stats.skipped == 1 and "overrun" in reader.stats.skips[0].reason


def test_zero_data_size_reads_to_end(fp_data):
    data = bytearray(fp_data.read_bytes())
    full = sum(isinstance(r, SampleRecord) for r in _read_all(bytes(data))[1])
    struct.pack_into("<Q", data, 48, 0)                        # data.size = 0, as a killed perf record leaves it
    reader, recs = _read_all(bytes(data))
    assert sum(isinstance(r, SampleRecord) for r in recs) == full and reader.stats.skipped >= 1


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(st.data())
def test_truncation_anywhere(fp_data, zstd_data, data):
    blob = data.draw(st.sampled_from([fp_data, zstd_data])).read_bytes()
    _survives(blob[:data.draw(st.integers(0, len(blob)))])


@FUZZ
@given(st.data())
def test_random_corruption(fp_data, pipe_data, zstd_data, data):
    blob = bytearray(data.draw(st.sampled_from([fp_data, pipe_data, zstd_data])).read_bytes())
    for _ in range(data.draw(st.integers(1, 12))):
        # half the hits in the first 4 KiB, where the header, attrs and the first records live
        hi = data.draw(st.sampled_from([min(4096, len(blob)), len(blob)]))
        blob[data.draw(st.integers(0, hi - 1))] = data.draw(st.integers(0, 255))
    _survives(bytes(blob))


def test_second_pass_sees_the_same(pipe_data, zstd_data):
    for path in (pipe_data, zstd_data):
        reader = PerfDataReader(path)
        first, stats, attrs = list(reader.records()), reader.stats, list(reader.attrs)
        assert list(reader.records()) == first and reader.stats == stats and reader.attrs == attrs
