"""Issue 13's one root: every public entry point, given bad input, bad options or a missing file,
raises an `unwind.UnwindError` subclass that names what was wrong — never a bare OSError, KeyError,
ValueError or TypeError (those are bugs, and they propagate)."""

from __future__ import annotations

import pytest

import unwind
from formats.errors import FileError, FormatError, NotELFError
from formats.profile import write_profile
from unwind.errors import UnwindError, UsageError
from unwind.model import Registers, Sample
from unwind.symbolizer import Symbolizer

TRUE = "/usr/bin/true"  # a real ELF executable that is not a core file


@pytest.fixture
def files(tmp_path):
    junk_perf = tmp_path / "junk.perf.data"
    junk_perf.write_bytes(b"PERFILE2" + bytes(200))
    text = tmp_path / "notes.txt"
    text.write_text("not an ELF file\n")
    return {"missing": str(tmp_path / "missing"), "dir": str(tmp_path), "junk_perf": str(junk_perf),
            "text": str(text), "out_in_missing_dir": str(tmp_path / "no" / "such" / "dir" / "out")}


def _stack():
    return unwind.Session().unwind(Sample(Registers.of(rip=0x401000, rsp=0x7000)), unwinder="fp")


CASES = {
    # Session verbs
    "perf: missing file": (lambda s, f: list(s.perf(f["missing"], progress=False)), FileError, "missing"),
    "perf: a directory": (lambda s, f: list(s.perf(f["dir"], progress=False)), FileError, None),
    "perf: not a perf.data": (lambda s, f: list(s.perf(f["junk_perf"], progress=False)), FormatError, "junk"),
    "perf: unknown unwinder": (lambda s, f: s.perf(f["junk_perf"], unwinder="nope"), UsageError, "nope"),
    "perf: max_depth 0": (lambda s, f: s.perf(f["junk_perf"], max_depth=0), UsageError, "max-stack"),
    "core: missing file": (lambda s, f: s.core(f["missing"]), FileError, "missing"),
    "core: not a core": (lambda s, f: s.core(TRUE), FormatError, "core"),
    "core: unknown unwinder": (lambda s, f: s.core(TRUE, unwinder="nope"), UnwindError, None),
    "symbolize: missing file": (lambda s, f: s.symbolize(f["missing"], [0x1000]), FileError, "missing"),
    "symbolize: not ELF": (lambda s, f: s.symbolize(f["text"], [0x1000]), NotELFError, "notes.txt"),
    "symbolize: unknown naming": (lambda s, f: s.symbolize(TRUE, [0x1000], naming="gnu"), UsageError, "gnu"),
    "stacks: missing file": (lambda s, f: s.stacks(f["missing"]), FileError, "missing"),
    "stacks: a directory": (lambda s, f: s.stacks(f["dir"]), FileError, None),
    "stacks: missing maps": (lambda s, f: s.stacks(text="a;b 1\n", maps=f["missing"]), FileError, "missing"),
    "stacks: missing obj": (lambda s, f: s.stacks(text="0x1000\n", obj=f["missing"]), FileError, "missing"),
    "report: missing file": (lambda s, f: s.report(f["missing"]), FileError, "missing"),
    "report: a directory": (lambda s, f: s.report(f["dir"]), FileError, None),
    "report: unknown sort key": (lambda s, f: s.report(f["text"], sort="nope"), UsageError, "nope"),
    "batch: missing file": (lambda s, f: s.batch([f["missing"]], workers=1), FileError, "missing"),
    "batch: glob matching nothing": (lambda s, f: s.batch([f["missing"] + "*"], workers=1), UsageError, "missing"),
    "kernel symbols: missing kallsyms": (lambda s, f: unwind.Session(kallsyms=f["missing"]).kernel_symbols(),
                                         FileError, "missing"),
    "perf: missing kallsyms": (lambda s, f: unwind.Session(kallsyms=f["missing"]).perf(f["junk_perf"]), FileError,
                               "missing"),
    "symbolize: a directory": (lambda s, f: s.symbolize(f["dir"], [0x1000]), FileError, None),
    "core: a directory": (lambda s, f: s.core(f["dir"]), FileError, None),
    "stacks: neither path nor text": (lambda s, f: s.stacks(), UsageError, None),
    "pid: no such process": (lambda s, f: s.pid(0), UnwindError, "0"),
    "unwind: unknown unwinder": (lambda s, f: s.unwind(Sample(Registers.of(rip=1)), unwinder="nope"), UsageError,
                                 "nope"),
    "Session: debug_dirs as one string": (lambda s, f: unwind.Session(debug_dirs="/usr/lib/debug"), UsageError, None),
    # module-level verbs
    "write: unknown format": (lambda s, f: unwind.write([], "svgz", f["missing"]), UsageError, "svgz"),
    "write: directory missing": (lambda s, f: unwind.write([], "folded", f["out_in_missing_dir"]), FileError,
                                 "out"),
    "write: onto a directory": (lambda s, f: unwind.write([], "folded", f["dir"]), FileError, "cannot write"),
    "write_profile: unknown format": (lambda s, f: write_profile([], "svgz"), UnwindError, "svgz"),
    "compare: unknown unwinder": (lambda s, f: unwind.compare([], ["nope"]), UsageError, "nope"),
    "get_unwinder: unknown name": (lambda s, f: unwind.get_unwinder("nope"), UsageError, "nope"),
    "Symbolizer: unknown naming": (lambda s, f: Symbolizer(naming="gnu"), UsageError, "gnu"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_raises_a_named_unwind_error(case, files):
    call, kind, names = CASES[case]
    with unwind.Session() as session, pytest.raises(kind) as caught:
        call(session, files)
    assert isinstance(caught.value, unwind.UnwindError)
    if names is not None:
        assert names in str(caught.value)


def test_a_closed_session_refuses_work(files):
    session = unwind.Session()
    session.close()
    with pytest.raises(UsageError):
        session.core(files["missing"])
