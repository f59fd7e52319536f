"""Held-out-style builds (corpus/symbolize_builds.py) answered as llvm-symbolizer answers the reference build."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from corpus import symbolize_builds as builds

pytestmark = pytest.mark.skipif(shutil.which("llvm-symbolizer") is None, reason="llvm-symbolizer missing")


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("symbolize-builds")


@pytest.mark.parametrize("compiler, sources", [("gcc", builds.C), ("g++", builds.CXX), ("clang-14", builds.C)])
def test_lto_start_file_from_declaring_unit(build_dir, compiler, sources, monkeypatch, tmp_path):
    """-flto: inline origins sit in other units; StartFileName comes from the declaring unit's file table."""
    monkeypatch.setenv("UNWIND_CACHE_DIR", str(tmp_path))
    link = ["-fuse-ld=lld"] if compiler.startswith("clang") else []
    prog = builds.compile_c(build_dir, f"lto-{compiler}", compiler, sources, ["-O2", "-g", "-flto"], link)
    same, total, diffs = builds.score(builds.Variant("lto", prog, prog), 150)
    assert total > 100
    assert same == total, diffs[:3]


@pytest.mark.parametrize("compiler, sources", [("g++", builds.CXX), ("clang-14", builds.C)])
@pytest.mark.parametrize("dwarf", ["4", "5"])
def test_split_dwarf_dwo_as_reference_build(build_dir, compiler, sources, dwarf, monkeypatch, tmp_path):
    """-gsplit-dwarf with .dwo files beside the objects: the inline frames come back from the .dwo."""
    monkeypatch.setenv("UNWIND_CACHE_DIR", str(tmp_path))
    flags = ["-O2", "-g", f"-gdwarf-{dwarf}"]
    ref = builds.compile_c(build_dir, f"ref{dwarf}-{compiler}", compiler, sources, flags)
    split = builds.compile_c(build_dir, f"split{dwarf}-{compiler}", compiler, sources, [*flags, "-gsplit-dwarf"])
    same, total, diffs = builds.score(builds.Variant("split", split, ref), 150)
    assert total > 100
    assert same == total, diffs[:3]


def test_missing_dwo_warns_and_keeps_lines(build_dir, monkeypatch, tmp_path):
    """A .dwo that is gone: one warning, and the skeleton's line table still answers file and line."""
    monkeypatch.setenv("UNWIND_CACHE_DIR", str(tmp_path))
    split = builds.compile_c(build_dir, "split-missing", "gcc", builds.C, ["-O2", "-g", "-gsplit-dwarf"])
    for dwo in split.parent.glob("*.dwo"):
        dwo.unlink()
    from unwind.symbolizer import Symbolizer

    addresses = builds.addresses_in(split, [("main", 4)])
    with pytest.warns(UserWarning, match="split DWARF unit .* not found"):
        frames = Symbolizer(index_dir=str(tmp_path)).symbolize(str(split), addresses)
    theirs = builds.llvm_json(split, addresses)
    assert frames[0][-1].file == theirs[0][-1]["FileName"] and frames[0][-1].line == theirs[0][-1]["Line"]


@pytest.mark.parametrize("compiler, packer, dwarf", [("g++", "dwp", "4"), ("clang-14", "llvm-dwp-14", "5"),
                                                    ("clang-14", "llvm-dwp-14", "4")])
def test_split_dwarf_dwp_package(build_dir, compiler, packer, dwarf, monkeypatch, tmp_path):
    """.dwo files packed into PROG.dwp (index versions 2 and 5) and removed: answers come from the package."""
    monkeypatch.setenv("UNWIND_CACHE_DIR", str(tmp_path))
    flags = ["-O2", "-g", f"-gdwarf-{dwarf}"]
    sources = builds.CXX if compiler == "g++" else builds.C
    ref = builds.compile_c(build_dir, f"pref{dwarf}-{compiler}", compiler, sources, flags)
    prog = builds.compile_c(build_dir, f"dwp{dwarf}-{compiler}", compiler, sources, [*flags, "-gsplit-dwarf"])
    dwos = sorted(str(p) for p in prog.parent.glob("*.dwo"))
    builds.run([packer, "-o", str(prog) + ".dwp", *dwos], prog.parent)
    for dwo in dwos:
        Path(dwo).unlink()
    same, total, diffs = builds.score(builds.Variant("dwp", prog, ref), 150)
    assert total > 100
    assert same == total, diffs[:3]


def test_dwp_option_names_the_package(build_dir, tmp_path, monkeypatch):
    """--dwp FILE: a package kept elsewhere answers as the reference build does.

    (llvm-symbolizer 14 itself gives no inline frames with --dwp here, so the reference is the plain build.)
    """
    monkeypatch.setenv("UNWIND_CACHE_DIR", str(tmp_path))
    flags = ["-O2", "-g"]
    ref = builds.compile_c(build_dir, "dwp-option-ref", "clang-14", builds.C, flags)
    prog = builds.compile_c(build_dir, "dwp-option", "clang-14", builds.C, [*flags, "-gsplit-dwarf"])
    dwos = sorted(str(p) for p in prog.parent.glob("*.dwo"))
    package = tmp_path / "elsewhere.dwp"
    builds.run(["llvm-dwp-14", "-o", str(package), *dwos], prog.parent)
    for dwo in dwos:
        Path(dwo).unlink()
    same, total, diffs = builds.score(builds.Variant("dwp", prog, ref, (f"--dwp={package}",)), 150)
    assert total > 100
    assert same == total, diffs[:3]
    without, _, _ = builds.score(builds.Variant("no dwp", prog, ref), 150)
    assert without < total  # the package is what made the difference


def test_fallback_debug_path_finds_debuglink_file(build_dir, tmp_path, monkeypatch):
    """--fallback-debug-path DIR: a stripped binary's .gnu_debuglink file under DIR/<binary's dir>/, as llvm
    finds it."""
    import json
    import os
    import subprocess
    import sys

    monkeypatch.setenv("UNWIND_CACHE_DIR", str(tmp_path / "cache"))
    prog = builds.compile_c(build_dir, "fallback", "gcc", builds.C, ["-O2", "-g"])
    debug = prog.parent / "prog.debug"
    builds.run(["objcopy", "--only-keep-debug", str(prog), str(debug)], prog.parent)
    builds.run(["objcopy", "--strip-debug", f"--add-gnu-debuglink={debug}", str(prog)], prog.parent)
    fallback = tmp_path / "fallback"
    target = fallback / str(prog.parent.resolve()).lstrip("/")
    target.mkdir(parents=True)
    debug.rename(target / "prog.debug")
    addresses = [a for a in builds.addresses_in(prog, builds.function_offsets(prog, 40, 5)) if a]
    extra = (f"--fallback-debug-path={fallback}",)
    theirs = builds.llvm_json(prog, addresses, extra)
    unwind = str(Path(sys.executable).parent / "unwind")
    out = subprocess.run([unwind, "symbolize", "--inlines", "--output-style=JSON", f"--obj={prog}", *extra],
                         input="".join(f"0x{a:x}\n" for a in addresses), capture_output=True, text=True,
                         check=True, env=os.environ).stdout
    ours = [json.loads(line)["Symbol"] for line in out.splitlines()]
    assert ours == theirs
    assert any(f["Line"] for frames in theirs for f in frames)  # lines came from the debug file
