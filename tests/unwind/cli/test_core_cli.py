"""`unwind core`: text identical to eu-stack --core, the DESIGN.md JSON shape, one-line errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]




def unwind_core(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "unwind", "core", *argv], capture_output=True, text=True, cwd=ROOT)


def eu_stack(core: Path, exe: Path) -> str:
    return subprocess.run(["eu-stack", "--core", str(core), "-e", str(exe)], capture_output=True, text=True).stdout


@pytest.mark.parametrize("name,unwinder", [("fp", "auto"), ("nofp", "auto"), ("kernel", "auto"), ("orc", "auto")])
def test_text_output_is_eu_stacks(built, name, unwinder):
    core = built / f"{name}.core"
    if name == "kernel" and not core.exists():
        pytest.skip("the kernel did not write a core here (core_pattern pipes or points elsewhere)")
    exe = built / ("fp" if name == "kernel" else name)
    if not core.exists():
        pytest.fail(f"{core.name} was not built (objtool missing? run bash .ci/setup)")
    ours = unwind_core(str(core), "--unwinder", unwinder)
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == eu_stack(core, exe)


def test_exe_with_another_build_id_is_ignored_as_eu_stack_ignores_it(built):
    """--exe naming a different program (another build of it, the wrong file): eu-stack takes a file for the
    executable only if its build-id is the dumped one, else the path the core records; so do we, with a
    one-line warning (we used to read the wrong file and name nothing past frame 0)."""
    core, right, wrong = built / "nofp.core", built / "nofp", built / "fp"
    ours = unwind_core(str(core), "--exe", str(wrong))
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == eu_stack(core, wrong) == eu_stack(core, right)
    assert re.fullmatch(r"unwind core: warning: \S+/fp: build-id [0-9a-f]+ is not the core's executable's "
                        r"\([0-9a-f]+\); using the path the core records\n", ours.stderr), ours.stderr


def test_fp_text_is_a_prefix_of_eu_stack_per_thread(built):
    """On the frame-pointer build, every thread's fp frames start with eu-stack's, up to the first libc caller."""
    ours = unwind_core(str(built / "fp.core"), "--unwinder", "fp").stdout
    theirs = eu_stack(built / "fp.core", built / "fp")
    split = lambda text: dict(re.findall(r"^TID (\d+):\n((?:#.*\n)*)", text, re.M))  # noqa: E731
    a, b = split(ours), split(theirs)
    assert a.keys() == b.keys() and len(a) == 6
    for tid in a:
        mine, ref = a[tid].splitlines(), b[tid].splitlines()
        assert len(mine) >= 2 and mine[:2] == ref[:2]


def test_json_shape(built):
    out = unwind_core(str(built / "fp.core"), "--unwinder", "auto", "--format", "json", "--inlines")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert set(doc) == {"threads"} and len(doc["threads"]) == 6
    keys = {"addr", "module", "offset", "symbol", "file", "line", "inlined", "via", "build_id"}
    vias = set()
    build_ids = {}
    for thread in doc["threads"]:
        assert set(thread) == {"tid", "frames", "stop"} and thread["stop"] == "end"
        for frame in thread["frames"]:
            assert set(frame) == keys
            assert re.fullmatch(r"0x[0-9a-f]+", frame["addr"])
            assert frame["offset"] is None or re.fullmatch(r"0x[0-9a-f]+", frame["offset"])
            assert isinstance(frame["inlined"], bool) and (frame["line"] is None or isinstance(frame["line"], int))
            vias.add(frame["via"])
            assert frame["build_id"] is None or re.fullmatch(r"[0-9a-f]{40}", frame["build_id"])
            build_ids.setdefault(frame["module"], set()).add(frame["build_id"])
        assert thread["frames"][0]["via"] == "context"
        assert thread["frames"][-1]["inlined"] is False
    assert vias == {"context", "cfi"}
    # the build-ids read from the core's dumped ELF headers are the files' own (readelf -n prints them)
    for module, ids in build_ids.items():
        if module and module.startswith("/") and os.path.exists(module):
            notes = subprocess.run(["readelf", "-n", module], capture_output=True, text=True, check=True).stdout
            assert ids == {re.search(r"Build ID: ([0-9a-f]+)", notes)[1]}, module
    names = {f["symbol"] for t in doc["threads"] for f in t["frames"]}
    assert {"park", "recurse", "in_handler", "compare", "main"} <= names
    # --inlines: msort_with_tmp's recursion is inlined into itself in libc (gdb shows the same)
    assert any(f["inlined"] for t in doc["threads"] for f in t["frames"])


def test_bad_input_is_one_line_error(built, tmp_path):
    not_core = unwind_core(str(built / "fp"))
    assert not_core.returncode == 1 and len(not_core.stderr.strip().splitlines()) == 1
    assert "not a core file" in not_core.stderr
    truncated = tmp_path / "t.core"
    truncated.write_bytes((built / "fp.core").read_bytes()[:100])
    out = unwind_core(str(truncated))
    assert out.returncode == 1 and out.stderr.startswith("unwind core: error:")
    missing = unwind_core(str(tmp_path / "nope.core"))
    assert missing.returncode == 1 and len(missing.stderr.strip().splitlines()) == 1
    unknown = unwind_core(str(built / "fp.core"), "--unwinder", "nonsense")
    assert unknown.returncode == 1 and "unknown unwinder" in unknown.stderr
