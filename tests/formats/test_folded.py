"""Folded writer: identical to perf's own `perf script report stackcollapse` on real recordings."""

from __future__ import annotations

import subprocess
from collections import Counter
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from conftest import need_tool
from formats.errors import FormatError, UnwindError
from formats.folded import FoldedStack, fold, format_folded, merge_folded, parse_folded, write_folded
from formats.perfscript import parse_perf_script
from formats.stack import Frame, Stack


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


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    return record(tmp_path_factory.mktemp("folded"), "dwarf")


def stackcollapse(data: Path, *options: str) -> str:
    """perf's bundled stackcollapse.py (it only reads ./perf.data), run in the recording's directory."""
    link = data.parent / "perf.data"
    if not link.exists():
        link.symlink_to(data.name)
    argv = [need_tool("perf"), "script", "report", "stackcollapse"]
    if options:
        argv += ["--", *options]
    return subprocess.run(argv, cwd=data.parent, check=True, capture_output=True, text=True).stdout


@pytest.mark.parametrize(
    "options, kwargs",
    [
        ((), {}),
        (("--kernel",), {"annotate_kernel": True}),
        (("--kernel", "--include-pid", "--include-tid"), {"annotate_kernel": True, "include_pid": True, "include_tid": True}),
        (("--include-pid",), {"include_pid": True}),
    ],
)
def test_matches_perf_stackcollapse(recording, options, kwargs):
    samples = list(parse_perf_script(perf_script(recording)))
    expected = stackcollapse(recording, *options)
    assert expected.count("\n") > 2
    assert write_folded(samples, **kwargs) == expected


def test_conventions_on_a_known_input():
    user = Frame(addr=0x401000, symbol="main", module="/bin/x")
    inline = Frame(addr=0x401010, symbol="helper<a;b>", module="/bin/x", inlined=True)
    caller = Frame(addr=0x401010, symbol="work", module="/bin/x")
    kernel = Frame(addr=0xFFFFFFFF81000000, symbol="do_syscall_64", module="[kernel.kallsyms]", kernel=True)
    one = Stack("my prog", 5, 6, 0, 250, (kernel, inline, caller, user))
    two = Stack("my prog", 5, 7, 1, 250, (Frame(addr=0x9, symbol=None),))
    text = write_folded([one, one, two], annotate_kernel=True, annotate_inline=True)
    assert text == (
        "my_prog;[unknown] 1\n"
        "my_prog;main;work;helper<a:b>_[i];do_syscall_64_[k] 2\n"
    )
    assert fold([one, two], use_period=True, include_tid=True) == Counter(
        {"my_prog-6;main;work;helper<a:b>;do_syscall_64": 250, "my_prog-7;[unknown]": 250}
    )


def test_parse_and_errors():
    assert parse_folded("a;b 3\n\nc 1\r\n") == [FoldedStack(("a", "b"), 3), FoldedStack(("c",), 1)]
    for bad in ("a;b", "a;b x", " 3", "a;b -1", "a ³"):
        with pytest.raises(FormatError):
            parse_folded(bad)


name = st.text(st.characters(blacklist_characters="\n\r"), min_size=1, max_size=8)
samples = st.builds(
    _only(Stack),
    comm=name,
    pid=st.integers(0, 99),
    tid=st.integers(0, 99),
    time=st.just(0),
    period=st.integers(1, 1000),
    frames=st.lists(st.builds(_only(Frame), addr=st.integers(0, 2**64 - 1), symbol=st.none() | name,
                              inlined=st.booleans(), kernel=st.booleans()), max_size=6).map(tuple),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(samples, max_size=6), st.booleans(), st.booleans())
def test_round_trip(batch, annotate, use_period):
    counts = fold(batch, annotate_kernel=annotate, annotate_inline=annotate, use_period=use_period)
    parsed = parse_folded(format_folded(counts))
    assert merge_folded(parsed) == counts
    assert sum(s.count for s in parsed) == sum((s.period if use_period else 1) * max(s.count, 1) for s in batch)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_random_text_only_raises_format_error(text):
    try:
        parse_folded(text)
    except FormatError:
        pass


def test_write_profile_dispatches_every_format():
    from formats.perfscript import write_perf_script
    from formats.pprof import parse_pprof, read_samples
    from formats.profile import OUTPUT_FORMATS, write_profile

    sample = Stack("p", 1, 1, 0, 10, (Frame(addr=0x10, symbol="leaf", module="/x"), Frame(addr=0x20, symbol="main", module="/x")))
    outputs = {fmt: write_profile([sample], fmt) for fmt in OUTPUT_FORMATS}
    assert outputs["folded"] == b"p;main;leaf 1\n"
    assert outputs["perf-script"] == write_perf_script([sample]).encode()
    assert [f.symbol for f in read_samples(parse_pprof(outputs["pprof"]))[0].frames] == ["leaf", "main"]
    assert b'"name":"leaf"' in outputs["speedscope"] and outputs["svg"].startswith(b"<?xml")
    with pytest.raises(UnwindError):
        write_profile([sample], "nope")
