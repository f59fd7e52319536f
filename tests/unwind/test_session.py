"""The Python API gives exactly what the commands print: Session.perf/core/symbolize/stacks and unwind.write
against `unwind perf`, `unwind core`, `unwind symbolize` and `unwind stacks` on a real recording and core."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from conftest import ROOT, need_tool

sys.path.append(str(ROOT / "tests" / "data" / "perf"))
from record import record, workloads  # noqa: E402

import unwind  # noqa: E402
from unwind.eustack import eu_stack_lines  # noqa: E402

UNWIND = [sys.executable, "-m", "unwind"]
PYTHON = "/usr/bin/python3.11d"


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    need_tool("perf")
    tmp = tmp_path_factory.mktemp("session")
    return record(tmp, "python3.11d", workloads(tmp, rounds=1)["python3.11d"])


def command(*argv: str) -> bytes:
    return subprocess.run([*UNWIND, *argv], capture_output=True, check=True, cwd=ROOT).stdout


@pytest.mark.parametrize("fmt", ["perf-script", "json", "folded", "pprof"])
def test_perf_equals_the_command(recording, fmt):
    out = io.BytesIO()
    with unwind.Session() as s:
        run = s.perf(recording, "dwarf", lines=fmt not in ("perf-script", "folded"),
                     truncated_marker=fmt in ("folded", "pprof"), progress=False)
        unwind.write(run, fmt, out)
    theirs = command("perf", str(recording), "--format", fmt, "-j", "1")
    assert out.getvalue() == theirs
    assert len(theirs) > 1000


def test_perf_streams_stacks_with_the_contract_fields(recording):
    with unwind.Session() as s:
        stacks = iter(s.perf(recording, progress=False))
        first = next(stacks)
    assert isinstance(first, unwind.Stack) and isinstance(first.stop, unwind.StopReason)
    assert first.comm == "python3.11d" and first.frames and all(isinstance(f, unwind.Frame) for f in first.frames)
    lines = command("perf", str(recording), "--format", "json", "-j", "1").decode().splitlines()
    assert first.to_json() == json.loads(lines[0])


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_core_equals_the_command(built, fmt):
    core = built / "fp.core"
    with unwind.Session() as s:
        threads = s.core(core, inlines=fmt == "json", debug_info=fmt == "json")
    if fmt == "json":
        from formats.stack import write_threads_json

        ours = write_threads_json(threads)
    else:
        ours = "".join(eu_stack_lines(threads[0].pid, "core", threads))
    args = ["--inlines"] if fmt == "json" else []
    assert ours == command("core", str(core), "--format", fmt, *args).decode()
    assert len(threads) == 6


def test_symbolize_equals_the_command():
    addresses = [0x50001F, 0x4A0000, 0x5AC000]
    with unwind.Session() as s:
        ours = s.symbolize(PYTHON, addresses, inlines=True)
    theirs = json.loads(command("symbolize", "--obj", PYTHON, "--output-style=JSON", *map(hex, addresses)))
    assert len(ours) == len(theirs) == 3
    for frames, answer in zip(ours, theirs):
        assert [(f.symbol or "", f.file or "", f.line or 0, f.column or 0) for f in frames] == [
            (a["FunctionName"], a["FileName"], a["Line"], a["Column"]) for a in answer["Symbol"]]
        assert [f.inlined for f in frames] == [True] * (len(frames) - 1) + [False]
    assert any(len(frames) > 1 for frames in ours)  # an inline chain among them


def test_stacks_equals_the_command(tmp_path):
    text = tmp_path / "stacks.txt"
    text.write_text("0x50001f 0x4a0000\n0x5ac000\n")
    with unwind.Session() as s:
        stacks = s.stacks(text, obj=PYTHON)
    for fmt in ("json", "folded"):
        out = io.BytesIO()
        unwind.write(stacks, fmt, out)
        assert out.getvalue() == command("stacks", str(text), "--obj", PYTHON, "--format", fmt)


def test_two_sessions_share_nothing_and_bad_use_is_an_unwind_error(tmp_path):
    a, b = unwind.Session(), unwind.Session()
    assert a.symbolizer() is not b.symbolizer() and a.resolver is not b.resolver and a.cfi_cache is not b.cfi_cache
    assert a.unwinder("auto").resolver is a.resolver is not b.unwinder("auto").resolver
    a.close()
    with pytest.raises(unwind.UnwindError):
        a.symbolize(PYTHON, [0x50001F])
    with pytest.raises(unwind.UnwindError):
        b.stacks(tmp_path / "missing.txt")
    with pytest.raises(unwind.UnwindError):
        unwind.write([], "svgz", io.BytesIO())
    with pytest.raises(unwind.UsageError):
        unwind.get_unwinder("no-such-unwinder")


def test_a_session_owns_its_cfi_tables_and_reuses_them(recording, tmp_path):
    """The CFI table cache is the Session's: its unwinders share it (a second pass over the recording
    compiles and loads nothing new), and another Session starts with its own, empty one."""
    with unwind.Session(cache_dir=str(tmp_path / "cache")) as s:
        assert s.unwinder("dwarf").cache is s.cfi_cache and s.unwinder("dwarf-stitched").base.cache is s.cfi_cache
        first = [len(stack.frames) for stack in s.perf(recording, "dwarf", progress=False)]
        cache = s.cfi_cache
        built, hits = cache.compiles + cache.loads + cache.lazy, cache.hits
        assert built > 0
        again = [len(stack.frames) for stack in s.perf(recording, "dwarf", progress=False)]
        assert again == first
        assert cache.compiles + cache.loads + cache.lazy == built and cache.hits > hits
        with unwind.Session(cache_dir=str(tmp_path / "cache")) as other:
            assert other.cfi_cache is not cache
            assert (other.cfi_cache.hits, other.cfi_cache.loads, other.cfi_cache.compiles) == (0, 0, 0)


def test_core_walks_a_third_party_unwinder_that_takes_no_memory(built, monkeypatch):
    """An unwinder registered by a library user whose unwind() takes only the sample walks each core thread
    over its stack copy (Session.core passed `memory=` to every unwinder: a TypeError); with the fp
    unwinder inside, each thread gets a prefix of what the built-in fp unwinder finds over the core's
    memory (the copy may end before the outermost frames)."""
    from unwind import unwinders

    class OnlySample:
        name = "only-sample"

        def __init__(self, resolver, **options):
            self.inner = unwinders.get_unwinder("fp", resolver=resolver, **options)

        def unwind(self, sample):
            return self.inner.unwind(sample)

    monkeypatch.setattr(unwinders, "_registered", dict(unwinders._registered))
    unwinders.register("only-sample", OnlySample)
    core = built / "fp.core"
    with unwind.Session() as s:
        theirs = s.core(core, unwinder="only-sample")
        ours = s.core(core, unwinder="fp")
    assert len(theirs) == len(ours) == 6
    for copy, whole in zip(theirs, ours):
        assert len(copy.frames) >= 3 and [f.addr for f in copy.frames] == [f.addr for f in whole.frames][:len(copy.frames)]
