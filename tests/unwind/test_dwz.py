"""dwz-compressed DWARF answered as llvm-symbolizer 14 answers the same program before dwz.

The programs are the symbolisation corpus (corpus/src/symbolize/), built here with gcc -O2 -g and
-O1 -g; dwz rewrites copies of them.  dwz changes no code, so every address of every sized
function is asked of both: function, file, line, StartFileName and inline depth must match.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from corpus import symbolize_builds as builds
from tests.conftest import need_tool

pytestmark = pytest.mark.skipif(shutil.which("llvm-symbolizer") is None, reason="llvm-symbolizer missing")


@pytest.fixture(scope="session")
def refs(tmp_path_factory) -> dict[str, Path]:
    """Reference builds: the C++ program at -O2 and -O1, the C program at -O2 (never rewritten)."""
    need_tool("dwz")
    out = tmp_path_factory.mktemp("dwz-refs")
    return {
        "cxx-O2": builds.compile_c(out, "cxx-O2", "g++", builds.CXX, ["-O2", "-g"]),
        "cxx-O1": builds.compile_c(out, "cxx-O1", "g++", builds.CXX, ["-O1", "-g"]),
        "c-O2": builds.compile_c(out, "c-O2", "gcc", builds.C, ["-O2", "-g"]),
    }


def every_address(path: Path) -> list[int]:
    """Every address inside a sized FUNC symbol of `path`."""
    from formats.elf import ElfFile
    from formats.symtab import SymbolType, read_symbols

    funcs = {(s.value, s.size) for s in read_symbols(ElfFile(str(path)), ".symtab")
             if s.type == SymbolType.FUNC and s.size and s.value}
    return sorted(a for start, size in funcs for a in range(start, start + size))


def copies(refs: dict[str, Path], names: tuple[str, ...], where: Path) -> list[Path]:
    where.mkdir(parents=True, exist_ok=True)
    out = []
    for name in names:
        target = where / name
        shutil.copy(refs[name], target)
        out.append(target)
    return out


def assert_same_as_reference(variant: Path, reference: Path, extra: tuple[str, ...] = ()) -> None:
    addresses = every_address(reference)
    assert every_address(variant) == addresses  # dwz rewrote debug sections only
    theirs = builds.llvm_json(reference, addresses)
    ours = builds.ours_json(variant, addresses, extra)
    diffs = [(hex(a), builds.key(o), builds.key(t)) for a, o, t in zip(addresses, ours, theirs)
             if builds.key(o) != builds.key(t)]
    assert len(addresses) > 200
    assert any(len(t) > 1 for t in theirs)  # inline chains are part of what is compared
    assert diffs == [], f"{len(diffs)} of {len(addresses)} differ, first: {diffs[:3]}"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("UNWIND_CACHE_DIR", str(tmp_path / "cache"))


def test_dwz_single_file(refs, tmp_path):
    """Plain `dwz`: partial units in the binary itself, reached by DW_FORM_ref_addr."""
    (prog,) = copies(refs, ("cxx-O2",), tmp_path)
    builds.run(["dwz", str(prog)], tmp_path)
    assert_same_as_reference(prog, refs["cxx-O2"])


@pytest.mark.parametrize("dwarf5", [False, True], ids=["gnu_debugaltlink", "debug_sup"])
def test_dwz_multifile_shared_by_three_binaries(refs, tmp_path, dwarf5):
    """`dwz -m` over three binaries: inline origins, linkage names and declarations move into the multifile
    (DW_FORM_GNU_ref_alt/GNU_strp_alt, or with -5 DW_FORM_ref_sup4/strp_sup and .debug_sup)."""
    progs = copies(refs, ("cxx-O2", "cxx-O1", "c-O2"), tmp_path)
    multi = tmp_path / "common.debug"
    builds.run(["dwz", *(["-5"] if dwarf5 else []), "-m", str(multi), "-M", str(multi), *map(str, progs)],
               tmp_path)
    section = ".debug_sup" if dwarf5 else ".gnu_debugaltlink"
    for prog in progs[:2]:
        sections = subprocess.run(["readelf", "-SW", str(prog)], capture_output=True, text=True).stdout
        assert section in sections
    for prog in progs:
        assert_same_as_reference(prog, refs[prog.name])


def test_dwz_relative_link_and_build_id_lookup(refs, tmp_path):
    """`dwz -r` writes the multifile name relative to the binary; a multifile moved under a debug
    directory's .build-id tree is found by the build-id the link carries (`--debug-file-directory`)."""
    progs = copies(refs, ("cxx-O2", "cxx-O1"), tmp_path / "bin")
    multi = tmp_path / "dwz" / "common.debug"
    multi.parent.mkdir()
    builds.run(["dwz", "-r", "-m", str(multi), *map(str, progs)], tmp_path)
    from formats.dwarf.sup import read_alt_link
    from formats.elf import ElfFile

    dump = subprocess.run(["readelf", "-p", ".gnu_debugaltlink", str(progs[0])], capture_output=True).stdout
    link = read_alt_link(ElfFile(str(progs[0])))
    assert link is not None and link.name == "../dwz/common.debug"
    assert b"]  ../dwz/common.debug\n" in dump  # readelf reads the same name
    assert link.build_id == ElfFile(str(multi)).build_id
    assert_same_as_reference(progs[0], refs["cxx-O2"])

    build_id = ElfFile(str(multi)).build_id.hex()
    debug_dir = tmp_path / "debug"
    target = debug_dir / ".build-id" / build_id[:2] / f"{build_id[2:]}.debug"
    target.parent.mkdir(parents=True)
    multi.rename(target)
    assert_same_as_reference(progs[1], refs["cxx-O1"], (f"--debug-file-directory={debug_dir}",))


def test_missing_multifile_warns_once_and_keeps_lines(refs, tmp_path):
    """The multifile is gone: one warning, and the binary's own line table still answers file and line."""
    progs = copies(refs, ("cxx-O2", "cxx-O1"), tmp_path)
    multi = tmp_path / "common.debug"
    builds.run(["dwz", "-m", str(multi), "-M", str(multi), *map(str, progs)], tmp_path)
    multi.unlink()
    addresses = every_address(refs["cxx-O2"])[::7]
    unwind = str(Path(sys.executable).parent / "unwind")
    run = subprocess.run([unwind, "symbolize", "--inlines", "--output-style=JSON", f"--obj={progs[0]}"],
                         input="".join(f"0x{a:x}\n" for a in addresses), capture_output=True, text=True,
                         check=True)
    warnings = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(warnings) == 1 and "common.debug not found" in warnings[0], run.stderr
    theirs = builds.llvm_json(refs["cxx-O2"], addresses)
    ours = [json.loads(line)["Symbol"] for line in run.stdout.splitlines()]
    assert [(f[0]["FileName"], f[0]["Line"]) for f in ours] == [(f[0]["FileName"], f[0]["Line"]) for f in theirs]


def test_index_key_names_the_multifile(refs, tmp_path):
    """The persistent index key covers the alternate file: rewriting the multifile rebuilds the index."""
    from formats.elf import ElfFile
    from unwind.index import IndexSources

    progs = copies(refs, ("cxx-O2", "cxx-O1"), tmp_path)
    multi = tmp_path / "common.debug"
    builds.run(["dwz", "-m", str(multi), "-M", str(multi), *map(str, progs)], tmp_path)
    plain = IndexSources(ElfFile(str(progs[0])), None)
    with_alt = plain._replace(alt=ElfFile(str(multi)))
    assert plain.key() != with_alt.key()
    assert ElfFile(str(multi)).build_id.hex().encode() in with_alt.key()
