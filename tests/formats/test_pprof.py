"""pprof writer: read back by the real `go tool pprof` (-raw and -traces) and by the protobuf runtime."""

from __future__ import annotations

import gzip
import os
import re
import subprocess
from collections import Counter
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from conftest import need_tool
from formats.errors import FormatError
from formats.perfscript import parse_perf_script
from formats.pprof import build_profile, parse_pprof, read_samples, write_pprof
from formats.stack import Frame, Stack, physical_groups


def _only(kind):
    """`kind` built from the fields a strategy gives alone (st.builds would also draw every defaulted field)."""
    return lambda **fields: kind(**fields)


def _sibling(name: str):
    """A sibling test module (under --import-mode=importlib test modules are not importable by name)."""
    spec = spec_from_file_location(f"_peer_{name}", Path(__file__).with_name(f"{name}.py"))
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_recorder = _sibling("test_perfscript")
record, perf_script = _recorder.record, _recorder.perf_script


def go_pprof(tmp: Path, *argv: str) -> str:
    """`go tool pprof` with every network path closed and caches in tmp."""
    env = dict(os.environ, HOME=str(tmp), GOCACHE=str(tmp / "gocache"), GOFLAGS="-mod=mod",
               GOTOOLCHAIN="local", GOPROXY="off", PPROF_TMPDIR=str(tmp))
    return subprocess.run([need_tool("go"), "tool", "pprof", *argv], env=env, check=True,
                          capture_output=True, text=True).stdout


def known_samples() -> list[Stack]:
    inner = Frame(addr=0x401010, symbol="inner", module="/bin/x", file="a.c", line=3, inlined=True, map_offset=0x1010)
    outer = Frame(addr=0x401010, symbol="outer", module="/bin/x", file="a.c", line=9, map_offset=0x1010)
    main = Frame(addr=0x401100, symbol="main", module="/bin/x", file="b.c", line=20, map_offset=0x1100)
    kernel = Frame(addr=0xFFFFFFFF81000130, symbol="entry_SYSCALL_64", module="[kernel.kallsyms]", kernel=True)
    return [
        Stack("x", 1, 2, 1000, 250000, (inner, outer, main)),
        Stack("x", 1, 2, 2000, 250000, (inner, outer, main)),
        Stack("x", 1, 3, 5000, 250000, (kernel, main)),
    ]


def test_go_pprof_raw_prints_inline_lines_counts_and_mappings(tmp_path):
    path = tmp_path / "known.pb.gz"
    path.write_bytes(write_pprof(known_samples()))
    raw = go_pprof(tmp_path, "-raw", str(path))
    assert "PeriodType: cpu nanoseconds\nPeriod: 250000\n" in raw
    assert "samples/count cpu/nanoseconds\n          2     500000: 1 2 \n" in raw
    assert "          1     250000: 3 2 \n" in raw
    assert "     1: 0x401010 M=1 inner a.c:3 s=0\n             outer a.c:9 s=0\n" in raw
    assert "     2: 0x401100 M=1 main b.c:20 s=0\n" in raw
    assert "     3: 0xffffffff81000130 M=2 entry_SYSCALL_64 :0 s=0\n" in raw
    assert "1: 0x401010/0x401101/0x1010 /bin/x  [FN][FL][LN][IN]\n" in raw
    assert "2: 0xffffffff81000130/0xffffffff81000131/0x0 [kernel.kallsyms]  [FN]\n" in raw


def parse_traces(text: str) -> Counter[tuple[str, ...]]:
    """`go tool pprof -traces` blocks -> Counter of leaf-first name tuples (inline frames end in ` (inline)`)."""
    traces: Counter[tuple[str, ...]] = Counter()
    for block in text.split("-----------+-------------------------------------------------------")[1:]:
        names, count = [], 0
        for line in block.strip("\n").split("\n"):
            match = re.match(r"^ {0,10}(\d+) {3}(.*)$", line)
            if match:
                count = int(match[1])
                names.append(match[2])
            elif line.startswith(" " * 13) and names:
                names.append(line.strip())
        if names:
            traces[tuple(names)] += count
    return traces


def test_go_pprof_traces_equal_a_real_recording(tmp_path):
    data = record(tmp_path, "dwarf")
    samples = list(parse_perf_script(perf_script(data)))
    path = tmp_path / "rec.pb.gz"
    path.write_bytes(write_pprof(samples))
    traces = parse_traces(go_pprof(tmp_path, "-sample_index=samples", "-traces", str(path)))
    # pprof marks every Line of a Location but the last as `(inline)`.
    expected = Counter(
        tuple(f"{f.symbol}{' (inline)' if n < len(group) - 1 else ''}"
              for group in physical_groups(s.frames) for n, f in enumerate(group))
        for s in samples
    )
    assert sum(expected.values()) == len(samples) > 10
    assert any(" (inline)" in name for trace in traces for name in trace)
    assert traces == expected


def test_protobuf_round_trip_and_string_table():
    profile = parse_pprof(write_pprof(known_samples()))
    assert profile.string_table[0] == ""
    assert len(set(profile.string_table)) == len(profile.string_table)
    back = read_samples(profile)
    assert [tuple((f.symbol, f.file, f.line, f.inlined) for f in s.frames) for s in back] == [
        tuple((f.symbol, f.file, f.line, f.inlined) for f in s.frames) for s in known_samples()
    ]
    assert [(s.pid, s.tid, s.comm, s.period) for s in back] == [(1, 2, "x", 250000), (1, 2, "x", 250000), (1, 3, "x", 250000)]


def test_bad_bytes_are_format_errors():
    for bad in (b"\x1f\x8b\x08\x00garbage", b"\xff\xff\xff", b"\x0a\x05\x08"):
        with pytest.raises(FormatError):
            parse_pprof(bad)


name = st.text(max_size=6)
frame = st.builds(_only(Frame), addr=st.integers(0, 2**64 - 1), symbol=st.none() | name.filter(bool),
                  module=st.none() | st.sampled_from(["/a", "/b", "[kernel.kallsyms]"]),
                  file=st.none() | name.filter(bool), line=st.none() | st.integers(1, 10**6), inlined=st.booleans())
sample = st.builds(_only(Stack), comm=name, pid=st.integers(0, 2**31), tid=st.integers(0, 2**31),
                   time=st.integers(0, 2**62), period=st.integers(1, 2**40), frames=st.lists(frame, max_size=6).map(tuple))


@settings(max_examples=100, deadline=None)
@given(st.lists(sample, max_size=5))
def test_round_trip_keeps_every_frame(batch):
    back = read_samples(parse_pprof(write_pprof(batch)))
    assert len(back) == len(batch)
    for ours, theirs in zip(batch, back):
        assert [f.addr for f in theirs.frames] == [f.addr for f in ours.frames]
        assert [(f.symbol or f"0x{f.addr:x}", f.file, f.line or None) for f in theirs.frames] == [
            (f.symbol or f"0x{f.addr:x}", f.file, f.line) for f in ours.frames]
        assert (theirs.pid, theirs.tid, theirs.comm, theirs.period) == (ours.pid, ours.tid, ours.comm, ours.period)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_only_raise_format_error(data):
    try:
        read_samples(parse_pprof(data))
    except FormatError:
        pass


def test_profile_is_deterministic():
    assert write_pprof(known_samples()) == write_pprof(known_samples())
    assert build_profile([]).string_table[:3] == ["", "samples", "count"]


def test_reader_takes_profiles_written_by_go_pprof(tmp_path):
    path = tmp_path / "known.pb.gz"
    path.write_bytes(write_pprof(known_samples()))
    rewritten = tmp_path / "go.pb.gz"
    go_pprof(tmp_path, "-proto", "-output", str(rewritten), str(path))
    profile = parse_pprof(rewritten.read_bytes())
    back = read_samples(profile)
    # Go merges the two identical samples into one with summed values.
    stacks = Counter()
    for sample in back:
        stacks[tuple((f.symbol, f.file, f.line, f.inlined, f.addr) for f in sample.frames)] += sample.period
    assert stacks == Counter({
        (("inner", "a.c", 3, True, 0x401010), ("outer", "a.c", 9, False, 0x401010), ("main", "b.c", 20, False, 0x401100)): 500000,
        (("entry_SYSCALL_64", None, None, False, 0xFFFFFFFF81000130), ("main", "b.c", 20, False, 0x401100)): 250000,
    })


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=4))
def test_corrupted_profiles_only_raise_format_error(flips):
    data = bytearray(gzip.decompress(write_pprof(known_samples())))
    for position, value in flips:
        data[position % len(data)] = value
    try:
        read_samples(parse_pprof(bytes(data)))
    except FormatError:
        pass
