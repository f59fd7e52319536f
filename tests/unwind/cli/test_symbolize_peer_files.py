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


# gimli-rs/object-testfiles' elf/yara-fuzzing/crash-f1fd... is an i386 executable whose `.strtab` header says
# sh_offset 0xfffffdc4: LLVM's getSectionContentsAsArray refuses the string table ("cannot be represented"
# when offset + size overflows the class's width, "greater than the file size" when it ends past the file)
# and llvm-symbolizer 14 the whole file.  The same damage, done here to programs gcc builds.
STRTAB_PROGRAM = "int value = 3;\nint twice(int x) { return 2 * x + value; }\nvoid _start(void) { for (;;) twice(1); }\n"


def _strtab_moved(source: Path, out: Path, offset: int) -> Path:
    """A copy of `source` whose .strtab section header says sh_offset = `offset` (nothing else changed)."""
    import struct

    from formats.elf import ElfFile

    data = bytearray(source.read_bytes())
    elf = ElfFile(str(source))
    strtab = elf.section(".strtab")
    assert strtab is not None
    if elf.is_64:
        shoff, shentsize = struct.unpack_from("<Q", data, 0x28)[0], struct.unpack_from("<H", data, 0x3A)[0]
        struct.pack_into("<Q", data, shoff + strtab.index * shentsize + 24, offset)
    else:
        shoff, shentsize = struct.unpack_from("<I", data, 0x20)[0], struct.unpack_from("<H", data, 0x2E)[0]
        struct.pack_into("<I", data, shoff + strtab.index * shentsize + 16, offset)
    out.write_bytes(bytes(data))
    return out


@pytest.fixture(scope="module")
def strtab_programs(tmp_path_factory) -> dict[str, Path]:
    need_tool("gcc")
    root = tmp_path_factory.mktemp("strtab")
    (root / "p.c").write_text(STRTAB_PROGRAM)
    built = {}
    for name, flags in (("m64", ["-m64"]), ("m32", ["-m32"])):
        subprocess.run(["gcc", *flags, "-g", "-O1", "-ffreestanding", "-nostdlib", "-static", "p.c", "-o", name],
                       cwd=root, check=True)
        built[name] = root / name
    size64, size32 = built["m64"].stat().st_size, built["m32"].stat().st_size
    return {"i386, offset + size past 2^32": _strtab_moved(built["m32"], root / "a", 0xFFFFFFF0),
            "i386, past the file": _strtab_moved(built["m32"], root / "b", size32 - 8),
            "x86-64, offset + size past 2^64": _strtab_moved(built["m64"], root / "c", 0xFFFFFFFFFFFFFFF0),
            "x86-64, past the file": _strtab_moved(built["m64"], root / "d", size64 + 0x100)}


@pytest.mark.parametrize("case", ["i386, offset + size past 2^32", "i386, past the file",
                                  "x86-64, offset + size past 2^64", "x86-64, past the file"])
def test_string_table_outside_the_file_refused_as_llvm_does(strtab_programs, case, tmp_path, monkeypatch):
    """stdout, stderr and exit status of llvm-symbolizer 14 under the five flag sets (code and data addresses)."""
    need_tool("llvm-symbolizer")
    monkeypatch.setenv("UNWIND_CACHE_DIR", str(tmp_path))
    path = strtab_programs[case]
    for flags in FLAG_SETS:
        argv = [f"--obj={path}", *flags, "0x401000", "0x401010", "DATA 0x404000"]
        ours = subprocess.run([UNWIND, "symbolize", *argv], capture_output=True, text=True)
        theirs = subprocess.run(["llvm-symbolizer", *argv], capture_output=True, text=True)
        assert (ours.stdout, ours.stderr, ours.returncode) == (theirs.stdout, theirs.stderr, theirs.returncode), flags
    assert ("cannot be represented" if "2^" in case else "greater than the file size") in theirs.stdout + theirs.stderr


def _name_moved(source: Path, out: Path, table: str, symbol: str, name_offset: int) -> Path:
    """A copy of `source` whose `table` entry for `symbol` has st_name = `name_offset`."""
    import struct

    from formats.elf import ElfFile
    from formats.symtab import read_symbols

    data = bytearray(source.read_bytes())
    elf = ElfFile(str(source))
    section = elf.section(table)
    assert section is not None
    index = next(s.index for s in read_symbols(elf, table) if s.name == symbol)
    struct.pack_into("<I", data, section.offset + index * (24 if elf.is_64 else 16), name_offset)
    out.write_bytes(bytes(data))
    return out


@pytest.mark.parametrize("case", ["symtab", "dynsym of a stripped library"])
def test_symbol_name_past_its_string_table_refused_as_llvm_does(case, tmp_path, monkeypatch):
    """A symbol whose st_name lies past its string table: llvm-symbolizer 14 refuses the file (`st_name (0x...)
    is past the end of the string table of size 0x...`, lit: DebugInfo/Symbolize/ELF/symtab-file2.yaml); with
    no .symtab it reads .dynsym's names, and refuses for a bad one there too.  The first flag set builds the
    index, the others answer from it (the verdict is kept in the index)."""
    for tool in ("gcc", "strip", "llvm-symbolizer"):
        need_tool(tool)
    monkeypatch.setenv("UNWIND_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "p.c").write_text(STRTAB_PROGRAM.replace("void _start(void) { for (;;) twice(1); }", ""))
    subprocess.run(["gcc", "-g", "-O1", "-shared", "-fPIC", "-nostdlib", "p.c", "-o", "lib.so"], cwd=tmp_path,
                   check=True)
    if case == "symtab":
        path = _name_moved(tmp_path / "lib.so", tmp_path / "bad.so", ".symtab", "twice", 0xFFFF)
    else:
        subprocess.run(["strip", "--strip-all", "lib.so", "-o", "stripped.so"], cwd=tmp_path, check=True)
        path = _name_moved(tmp_path / "stripped.so", tmp_path / "bad.so", ".dynsym", "twice", 0xFFFF)
    for flags in FLAG_SETS:
        argv = [f"--obj={path}", *flags, "0x1000", "0x1004", "DATA 0x3000"]
        ours = subprocess.run([UNWIND, "symbolize", *argv], capture_output=True, text=True)
        theirs = subprocess.run(["llvm-symbolizer", *argv], capture_output=True, text=True)
        assert (ours.stdout, ours.stderr, ours.returncode) == (theirs.stdout, theirs.stderr, theirs.returncode), flags
    assert "is past the end of the string table" in theirs.stdout + theirs.stderr


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
