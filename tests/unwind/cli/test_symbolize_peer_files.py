"""Peer test files copied into tests/data/peers (origin and licence in their README) answered as llvm-symbolizer 14."""

from __future__ import annotations

import bz2
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import need_tool

PEERS = Path(__file__).resolve().parents[2] / "data" / "peers"
UNWIND = str(Path(sys.executable).parent / "unwind")
FLAG_SETS = [[], ["--output-style=JSON"], ["--output-style=GNU", "-a", "-p", "-s"], ["--no-inlines"], ["--verbose"]]


@pytest.fixture(scope="module")
def testfile56(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("peers") / "testfile56"
    out.write_bytes(bz2.decompress((PEERS / "elfutils" / "testfile56.bz2").read_bytes()))
    return out


@pytest.mark.parametrize("flags", FLAG_SETS, ids=lambda f: " ".join(f) or "default")
def test_unterminated_string_table_refused_as_llvm_does(testfile56, flags, tmp_path, monkeypatch):
    """elfutils' testfile56: `.strtab` has no final NUL; llvm-symbolizer 14 reports it once and answers nothing."""
    need_tool("llvm-symbolizer")
    monkeypatch.setenv("UNWIND_CACHE_DIR", str(tmp_path))
    argv = [f"--obj={testfile56}", *flags, "0x4003bc", "0x4003e0", "0x400450"]
    ours = subprocess.run([UNWIND, "symbolize", *argv], capture_output=True, text=True)
    theirs = subprocess.run(["llvm-symbolizer", *argv], capture_output=True, text=True)
    assert (ours.stdout, ours.stderr, ours.returncode) == (theirs.stdout, theirs.stderr, theirs.returncode)
    assert "non-null terminated" in theirs.stdout + theirs.stderr


# elfutils tests/run-allfcts-multi.sh: decl_file:decl_line:name of every function, the DWARF spread
# over a binary and its dwz multifile (`testfile_multi.dwz`, `testfile-dwzstr.multi`).
ALLFCTS = {"testfile_multi_main": "/home/mark/src/tests/dwz/main.c:3:main",
           "libtestfile_multi_shared.so": "/home/mark/src/tests/dwz/shared.c:3:call_foo",
           "testfile-dwzstr": "/home/mark/src/tests/main.c:8:main"}
DWZ_FILES = (*ALLFCTS, "testfile_multi.dwz", "testfile-dwzstr.multi")


@pytest.fixture
def dwz_files(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("UNWIND_CACHE_DIR", str(tmp_path / "cache"))
    for name in DWZ_FILES:
        (tmp_path / name).write_bytes(bz2.decompress((PEERS / "elfutils" / f"{name}.bz2").read_bytes()))
    return tmp_path


def _functions(path: Path) -> dict[str, tuple[int, int]]:
    from formats.elf import ElfFile
    from formats.symtab import SymbolType, read_symbols

    return {s.name: (s.value, s.size) for s in read_symbols(ElfFile(str(path)), ".symtab")
            if s.type == SymbolType.FUNC and s.size and s.value}


def _ours(path: Path, addresses: list[int]) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([UNWIND, "symbolize", "--inlines", "--output-style=JSON", f"--obj={path}"],
                          input="".join(f"0x{a:x}\n" for a in addresses), capture_output=True, text=True,
                          check=True, env=os.environ)


@pytest.mark.parametrize("name", list(ALLFCTS))
def test_dwz_multifile_fixtures_as_elfutils_reads_them(dwz_files, name):
    """Names, comp_dir and declarations sit in the multifile (DW_FORM_GNU_strp_alt/GNU_ref_alt): the
    function's StartFileName:StartLine:FunctionName is elfutils' allfcts line, and every address's
    file:line chain equals `eu-addr2line -i` (elfutils follows .gnu_debugaltlink as we do; llvm 14 does not)."""
    need_tool("eu-addr2line")
    import json

    path = dwz_files / name
    functions = _functions(path)
    function = ALLFCTS[name].rsplit(":", 1)[1]
    start = functions[function][0]
    run = _ours(path, [start])
    frame = json.loads(run.stdout)["Symbol"][-1]
    assert f"{frame['StartFileName']}:{frame['StartLine']}:{frame['FunctionName']}" == ALLFCTS[name]
    assert run.stderr == ""
    addresses = sorted(a for value, size in functions.values() for a in range(value, value + size))
    ours = [json.loads(line)["Symbol"] for line in _ours(path, addresses).stdout.splitlines()]
    compared = 0
    for address, frames in zip(addresses, ours):
        eu = subprocess.run(["eu-addr2line", "-i", "-e", str(path), hex(address)], capture_output=True,
                            text=True).stdout.split()  # exits 1 where it knows nothing (??:0)
        if eu and not eu[0].startswith("??"):
            assert [f"{f['FileName']}:{f['Line']}" for f in frames] == eu, hex(address)
            compared += 1
    assert compared >= functions[function][1]  # at least every address of the function DWARF describes


def test_dwz_fixture_without_its_multifile_answers_as_llvm(dwz_files):
    """testfile_multi.dwz gone: one warning, and the answers llvm-symbolizer 14 gives (it never reads it)."""
    need_tool("llvm-symbolizer")
    (dwz_files / "testfile_multi.dwz").unlink()
    path = dwz_files / "testfile_multi_main"
    addresses = sorted(a for value, size in _functions(path).values() for a in range(value, value + size))
    run = _ours(path, addresses)
    assert len(run.stderr.splitlines()) == 1 and "testfile_multi.dwz not found" in run.stderr
    theirs = subprocess.run(["llvm-symbolizer", "--inlines", "--output-style=JSON", f"--obj={path}"],
                            input="".join(f"0x{a:x}\n" for a in addresses), capture_output=True, text=True,
                            check=True).stdout
    assert run.stdout == theirs
