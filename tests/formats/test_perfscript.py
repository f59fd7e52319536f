"""perf-script writer: byte-identical to real `perf script` output of recordings made here."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from conftest import need_tool
from formats.errors import FormatError
from formats.perfscript import format_time, parse_perf_script, write_perf_script
from formats.stack import Frame, Stack


def _only(kind):
    """`kind` built from the fields a strategy gives alone (st.builds would also draw every defaulted field)."""
    return lambda **fields: kind(**fields)


FIELDS = "comm,pid,tid,time,ip,sym,dso"

# An always-inlined helper making syscalls: user, inline and kernel frames in one stack. Between two
# syscalls it computes in user mode, so frame-pointer callchains (which lose `outer` under a syscall
# in -O2 code) also see `outer` at frame 0 in a good share of the samples, not by luck.
PROGRAM = r"""
#include <unistd.h>
#include <stdlib.h>
static inline __attribute__((always_inline)) long inner(long x)
{ long s = 0; for (long i = 0; i < x; i++) { s += getppid(); for (int j = 0; j < 300; j++) s = s * 31 + j; } return s; }
__attribute__((noinline)) long outer(long x) { return inner(x) + 1; }
volatile long sink;
int main(int argc, char **argv) { sink = outer(argc > 1 ? atol(argv[1]) : 150000); return 0; }
"""


def record(tmp: Path, callgraph: str) -> Path:
    """Build the program and record it with perf; returns the perf.data path."""
    source = tmp / "prog.c"
    source.write_text(PROGRAM)
    exe = tmp / "prog"
    subprocess.run([need_tool("gcc"), "-O2", "-g", "-o", exe, source], check=True)
    data = tmp / f"{callgraph}.data"
    subprocess.run(
        [need_tool("perf"), "record", "-q", "-e", "cpu-clock", "-F", "2000", "--call-graph", callgraph,
         "-o", data, exe],
        check=True, capture_output=True,
    )
    return data


def perf_script(data: Path, *extra: str) -> str:
    return subprocess.run(
        [need_tool("perf"), "script", "-i", data, "-F", FIELDS, *extra],
        check=True, capture_output=True, text=True,
    ).stdout


@pytest.fixture(scope="module", params=["fp", "dwarf"])
def recording(request, tmp_path_factory) -> Path:
    return record(tmp_path_factory.mktemp(request.param), request.param)


@pytest.mark.parametrize("ns", [False, True])
def test_writer_reproduces_perf_script_byte_for_byte(recording, ns):
    expected = perf_script(recording, *(["--ns"] if ns else []))
    samples = list(parse_perf_script(expected))
    assert len(samples) == expected.count("\n\n") > 10
    assert write_perf_script(samples, nanoseconds=ns) == expected


def test_reader_sees_kernel_user_and_inline_frames(recording):
    samples = list(parse_perf_script(perf_script(recording)))
    frames = [f for s in samples for f in s.frames]
    assert any(f.kernel and f.module == "[kernel.kallsyms]" for f in frames)
    assert any(f.module and f.module.endswith("/prog") and f.symbol == "outer" for f in frames)
    if recording.name.startswith("dwarf"):
        # perf expands the always-inlined `inner` into its own `(inlined)` line at outer's address.
        inner = [f for f in frames if f.symbol == "inner"]
        assert inner and all(f.inlined and f.module is None for f in inner)


def test_reader_takes_perf_default_and_srcline_layouts(recording):
    exact = list(parse_perf_script(perf_script(recording)))
    default = subprocess.run([need_tool("perf"), "script", "-i", recording], check=True, capture_output=True, text=True).stdout
    srcline = perf_script(recording, "-F", "+srcline")  # perf allows a second -F adding to the first
    for text in (default, srcline):
        samples = list(parse_perf_script(text))
        assert [s.tid for s in samples] == [s.tid for s in exact]
        assert [[f.addr for f in s.frames] for s in samples] == [[f.addr for f in s.frames] for s in exact]
    samples = list(parse_perf_script(default))
    assert {s.period for s in samples} == {500000} and all(s.pid == -1 for s in samples)  # cpu-clock at 2000 Hz
    # perf's default layout prints sym+0xoff: the symbol part equals the -F sym column.
    assert [[(f.symbol or "").rsplit("+0x", 1)[0] for f in s.frames] for s in samples] == [
        [f.symbol or "" for f in s.frames] for s in exact]


def test_reader_takes_one_line_samples_without_callchain(tmp_path):
    exe_data = record(tmp_path, "fp")
    data = tmp_path / "flat.data"
    subprocess.run([need_tool("perf"), "record", "-q", "-e", "cpu-clock", "-F", "2000", "-o", data, tmp_path / "prog"],
                   check=True, capture_output=True)
    text = subprocess.run([need_tool("perf"), "script", "-i", data, "-F", "comm,tid,time,period,event,ip,sym,dso"],
                          check=True, capture_output=True, text=True).stdout
    ips = subprocess.run([need_tool("perf"), "script", "-i", data, "-F", "ip"], check=True, capture_output=True,
                         text=True).stdout.split()
    samples = list(parse_perf_script(text))
    assert exe_data.exists() and len(samples) == len(ips) > 10
    assert [s.frames[0].addr for s in samples] == [int(ip, 16) for ip in ips]


def test_time_columns():
    assert format_time(451_378_336_999) == "  451.378336:"
    assert format_time(451_378_336_999, nanoseconds=True) == "  451.378336999:"
    assert format_time(123456_000_001_000) == "123456.000001:"


def test_header_pads_pid_and_tid_like_perf():
    sample = Stack("a b", 7, 12345678, 5_000_000_000, 1, (Frame(addr=0x10, symbol=None, module=None),))
    assert write_perf_script([sample]) == "a b     7/12345678     5.000000: \n\t              10 [unknown] ([unknown])\n\n"


def test_bad_text_is_a_format_error():
    with pytest.raises(FormatError):
        list(parse_perf_script("not a header\n\tzz\n"))
    with pytest.raises(FormatError):
        list(parse_perf_script("x 1/1 1.000000: \n\tnot hex (a)\n"))


names = st.text(st.characters(blacklist_characters="()\n\r\t\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"), max_size=12)
frames = st.builds(
    _only(Frame),
    addr=st.integers(0, 2**64 - 1),
    symbol=st.none() | names.filter(lambda s: s.strip() == s and s),
    module=st.none() | names.filter(lambda s: s.strip() == s and s and s != "inlined"),
    inlined=st.booleans(),
)
samples = st.builds(
    _only(Stack),
    comm=st.text(st.sampled_from("abcXYZ09_-.: "), min_size=1, max_size=15).filter(lambda s: s.strip() == s),
    pid=st.integers(0, 2**31 - 1),
    tid=st.integers(0, 2**31 - 1),
    time=st.integers(0, 2**63 - 1),
    period=st.just(1),
    frames=st.lists(frames, max_size=5).map(tuple),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(samples, max_size=4), st.booleans())
def test_text_round_trip(batch, ns):
    text = write_perf_script(batch, nanoseconds=ns)
    again = list(parse_perf_script(text))
    assert [(s.comm, s.pid, s.tid, len(s.frames)) for s in again] == [(s.comm, s.pid, s.tid, len(s.frames)) for s in batch]
    assert write_perf_script(again, nanoseconds=ns) == text


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_random_text_only_raises_format_error(text):
    try:
        list(parse_perf_script(text))
    except FormatError:
        pass
