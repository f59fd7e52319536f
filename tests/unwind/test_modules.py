"""Address normalization on every linker layout: `mapping_bias` against the loader's real mappings, and
`unwind core` on gcore dumps of each build against eu-stack (demangled, and -r raw), thread by thread."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import load_helper, need_tool

from formats.elf import ElfFile
from formats.procmaps import parse_maps
from unwind.model import Mapping
from unwind.modules import mapping_bias, maps_prot

layouts = load_helper("data/layouts/layouts.py", "unwind_test_layouts")
BUILDS = sorted(layouts.BUILDS)


@pytest.fixture(scope="module")
def dumps(tmp_path_factory):
    for tool in ("gcore", "eu-stack", "clang++-14", "mold"):
        need_tool(tool)
    return str(tmp_path_factory.mktemp("layouts"))


@pytest.mark.parametrize("name", BUILDS)
def test_every_mapping_of_a_module_gives_the_loaders_one_bias(dumps, name):
    """ld.so maps all PT_LOADs of a file with one bias: each of the exe's and libc's code mappings, and the
    mapping of its headers, must give it, with or without the permissions (lld and mold share a file page
    between the R and RX segments).  Data mappings are left out: once RELRO is made read-only, ld.bfd's
    `r--p` page at the offset of both the .rodata segment and the RELRO head is ambiguous without the
    addresses the program reads, and no pc is ever there."""
    dumped = layouts.build(dumps, name)
    entries = parse_maps(dumped.maps, "maps")
    for path in (str(dumped.exe), next(e.path for e in entries if e.path and "/libc.so" in e.path)):
        elf = ElfFile(path)
        mine = [e for e in entries if e.path == path and ("x" in e.perms or e.offset == 0)]
        assert len(mine) >= 1 + ("x" not in mine[0].perms)
        with_prot = {mapping_bias(elf, Mapping(e.start, e.end, e.offset, path, None, maps_prot(e.perms))) for e in mine}
        without = {mapping_bias(elf, Mapping(e.start, e.end, e.offset, path)) for e in mine}
        assert len(with_prot) == 1 and with_prot == without, (path, [hex(b) for b in with_prot | without])
        if name.endswith("nopie") and path == str(dumped.exe):
            assert with_prot == {0}


def _threads(text: str) -> dict[str, str]:
    out, tid = {}, None
    for line in text.splitlines():
        if line.startswith("TID "):
            tid = line
            out[tid] = ""
        elif tid is not None:
            out[tid] += line + "\n"
    return out


@pytest.mark.parametrize("raw", [False, True], ids=["demangled", "raw"])
@pytest.mark.parametrize("name", BUILDS)
def test_core_text_is_eu_stacks_on_every_thread(dumps, name, raw):
    dumped = layouts.build(dumps, name)
    flags = ["-r"] if raw else []
    theirs = subprocess.run(["eu-stack", *flags, "--core", str(dumped.core), "-e", str(dumped.exe)],
                            capture_output=True, text=True).stdout
    ours = subprocess.run([sys.executable, "-m", "unwind", "core", str(dumped.core), *flags],
                          capture_output=True, text=True)
    assert ours.returncode == 0, ours.stderr
    mine, ref = _threads(ours.stdout), _threads(theirs)
    assert len(ref) == 4 and ("_ZN6shapes4parkEv" if raw else "shapes::park()") in theirs
    assert mine == ref


def test_locate_takes_perfs_build_id_cache_for_a_rebuilt_binary(tmp_path, monkeypatch):
    """A recording's mapping names a path that now holds another build (or nothing): the binary as recorded
    comes from perf's build-id cache ($PERF_BUILDID_DIR, ~/.debug: `.build-id/xx/rest/elf`), as perf script
    takes it, before a debug directory's `.debug` file (which has no code)."""
    from unwind.modules import ModuleResolver

    need_tool("gcc")
    src = tmp_path / "p.c"
    builds = []
    for version in (1, 2):
        src.write_text(f"int main(void) {{ return {version}; }}\n")
        out = tmp_path / f"p{version}"
        subprocess.run(["gcc", "-O1", str(src), "-o", str(out)], check=True)
        builds.append(out)
    recorded, rebuilt = (ElfFile(str(b)).build_id for b in builds)
    assert recorded != rebuilt
    path = tmp_path / "prog"
    path.write_bytes(builds[1].read_bytes())  # the path now holds the rebuilt program
    cache = tmp_path / "buildid"
    hexid = recorded.hex()
    (cache / ".build-id" / hexid[:2] / hexid[2:]).mkdir(parents=True)
    (cache / ".build-id" / hexid[:2] / hexid[2:] / "elf").write_bytes(builds[0].read_bytes())
    debug = tmp_path / "debug" / ".build-id" / hexid[:2]
    debug.mkdir(parents=True)
    subprocess.run(["objcopy", "--only-keep-debug", str(builds[0]), str(debug / f"{hexid[2:]}.debug")], check=True)
    monkeypatch.setenv("PERF_BUILDID_DIR", str(cache))
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.debug of this machine's
    resolver = ModuleResolver(debug_dirs=[str(tmp_path / "debug")])
    assert resolver.locate(str(path), rebuilt) == str(path)
    assert resolver.locate(str(path), recorded) == str(cache / ".build-id" / hexid[:2] / hexid[2:] / "elf")
    monkeypatch.delenv("PERF_BUILDID_DIR")
    assert resolver.locate(str(path), recorded) == str(debug / f"{hexid[2:]}.debug")  # no cache: the debug file
    path.unlink()
    assert ModuleResolver(debug_dirs=[]).locate(str(path), recorded) is None
