"""formats.dwarf.line against llvm-dwarfdump --debug-line and llvm-symbolizer, on compiled and Debian binaries."""

from __future__ import annotations

import json
import random
import re
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import PYTHON_DBG, need_tool, run_tool
from formats.dwarf.line import (BASIC_BLOCK, END_SEQUENCE, EPILOGUE_BEGIN, IS_STMT, PROLOGUE_END,
                                LineProgram, iter_line_programs, parse_line_header, parse_line_program)
from formats.elf import ElfFile
from formats.errors import FormatError

LIBC_DEBUG = Path("/usr/lib/debug/.build-id/93/ac61ec5a8eb1396f9fbd350e3169a558528a40.debug")

SOURCES = {
    "main.c": """
#include <stdio.h>
#include "util.h"
#include "shapes.h"
int main(int argc, char **argv) {
    int total = 0;
    for (int i = 0; i < argc * 3; i++)
        total += square(i) + (i & 1 ? cube(i) : 0);
    total += area(argc, total);
    printf("%d %s\\n", total, argv[0]);
    return total & 7;
}
""",
    "util.h": """
static inline int square(int x) { return x * x; }
static inline int cube(int x) {
    int r = x;
    for (int k = 0; k < 2; k++) r *= x;
    return r;
}
""",
    "shapes.h": "int area(int w, int h);\n",
    "shapes.c": """
#include "shapes.h"
#include "util.h"
int area(int w, int h) {
    if (w < 0)
        return -1;
    return square(w) + h * cube(h % 5) + (w > 3 ? w : h);
}
""",
}

# name -> (gcc flags, line table version); gas writes the table unless -gno-as-loc-support, and
# gas never writes version 2, gcc does.
VARIANTS = {
    "v2": (["-gdwarf-2"], 3),
    "v3": (["-gdwarf-3"], 3),
    "v4": (["-gdwarf-4"], 4),
    "v5": (["-gdwarf-5"], 5),
    "v5-64": (["-gdwarf-5", "-gdwarf64"], 5),
    "v2-gcc": (["-gdwarf-2", "-gno-as-loc-support"], 2),
    "v4-gcc": (["-gdwarf-4", "-gno-as-loc-support"], 4),
    "v5-gcc": (["-gdwarf-5", "-gno-as-loc-support"], 5),
}
_FLAG_BITS = {"is_stmt": IS_STMT, "basic_block": BASIC_BLOCK, "prologue_end": PROLOGUE_END,
              "epilogue_begin": EPILOGUE_BEGIN, "end_sequence": END_SEQUENCE}
_ROW = re.compile(r"^0x([0-9a-f]{16})\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*(.*)$")


def dwarfdump_programs(text: str) -> dict[int, dict]:
    """llvm-dwarfdump --debug-line text -> {offset: {version, dirs, files, rows}}."""
    programs: dict[int, dict] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("debug_line[0x"):
            current = programs.setdefault(int(line[11:21], 16), {"dirs": [], "files": [], "rows": []})
        elif current is None:
            continue
        elif m := _ROW.match(line):
            flags = sum(_FLAG_BITS[word] for word in m.group(7).split())
            addr, ln, col, fil, _isa, disc = (int(m.group(i), 16 if i == 1 else 10) for i in range(1, 7))
            current["rows"].append((addr, ln, col, fil, disc, flags))
        elif m := re.match(r"^\s+version: (\d+)", line):
            current["version"] = int(m.group(1))
        elif m := re.match(r'^include_directories\[\s*\d+\] = "(.*)"$', line):
            current["dirs"].append(m.group(1))
        elif m := re.match(r'^\s+name: "(.*)"$', line):
            current["files"].append([m.group(1), None])
        elif m := re.match(r"^\s+dir_index: (\d+)$", line):
            current["files"][-1][1] = int(m.group(1))
    return programs


def ours(program: LineProgram) -> dict:
    r = program.rows
    rows = list(zip(r.address, r.line, r.column, r.file, r.discriminator, r.flags))
    return {"version": program.header.version, "dirs": list(program.header.include_directories),
            "files": [[f.name, f.dir_index] for f in program.header.file_names], "rows": rows}


def sections(path: Path) -> tuple[bytes, bytes | None, bytes | None]:
    elf = ElfFile(path)
    return elf.section_bytes(".debug_line"), elf.section_bytes(".debug_str"), elf.section_bytes(".debug_line_str")


def comp_dirs(path: Path) -> dict[int, str]:
    """stmt_list offset -> DW_AT_comp_dir of its unit, as llvm-dwarfdump reads them."""
    text = run_tool(need_tool("llvm-dwarfdump"), "--debug-info", "-r", "0", str(path))
    out = {}
    for die in re.split(r"DW_TAG_(?:compile|partial)_unit", text)[1:]:
        stmt = re.search(r"DW_AT_stmt_list\s+\((0x[0-9a-f]+)\)", die)
        comp = re.search(r'DW_AT_comp_dir\s+\("(.*)"\)', die)
        if stmt:
            out[int(stmt.group(1), 16)] = comp.group(1) if comp else None
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    """The SOURCES program compiled by gcc -O2 in every VARIANTS configuration."""
    gcc = need_tool("gcc")
    src = tmp_path_factory.mktemp("src")
    for name, text in SOURCES.items():
        (src / name).write_text(text)
    out = {}
    for name, (flags, _version) in VARIANTS.items():
        binary = src / f"prog-{name}"
        subprocess.run([gcc, "-g", "-O2", *flags, "main.c", "shapes.c", "-o", str(binary)], cwd=src, check=True)
        out[name] = binary
    return out


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_row_matches_llvm_dwarfdump(built, variant):
    binary = built[variant]
    expected = dwarfdump_programs(run_tool(need_tool("llvm-dwarfdump"), "--debug-line", str(binary)))
    line, strs, line_strs = sections(binary)
    got = {p.header.offset: ours(p) for p in iter_line_programs(line, debug_str=strs, debug_line_str=line_strs)}
    assert got == expected
    version = VARIANTS[variant][1]
    mine = [p for p in got.values() if any(f[0] == "util.h" for f in p["files"])]
    assert len(mine) == 2 and all(p["version"] == version for p in mine)
    assert sum(len(p["rows"]) for p in mine) > 40


@pytest.mark.parametrize("binary", [PYTHON_DBG, LIBC_DEBUG], ids=["python3.11d", "libc.debug"])
def test_sampled_programs_of_debian_binaries(binary):
    dwarfdump = need_tool("llvm-dwarfdump")
    line, strs, line_strs = sections(binary)
    offsets = [p.header.offset for p in iter_line_programs(line, debug_str=strs, debug_line_str=line_strs)]
    assert len(offsets) > 100
    for offset in random.Random(1).sample(offsets, 20):
        expected = dwarfdump_programs(run_tool(dwarfdump, f"--debug-line={offset:#x}", str(binary)))
        program = parse_line_program(line, offset, debug_str=strs, debug_line_str=line_strs, path=str(binary))
        assert {offset: ours(program)} == expected
        assert parse_line_header(memoryview(line), offset, debug_str=strs, debug_line_str=line_strs) == program.header


@pytest.mark.slow
@pytest.mark.parametrize("binary", [PYTHON_DBG, LIBC_DEBUG], ids=["python3.11d", "libc.debug"])
def test_every_program_of_debian_binaries(binary):
    """All 180 / 2063 programs, every row (558538 / 291211), against one full llvm-dwarfdump run."""
    text = subprocess.run([need_tool("llvm-dwarfdump"), "--debug-line", str(binary)], capture_output=True,
                          text=True, errors="surrogateescape", check=True).stdout
    expected = dwarfdump_programs(text)
    line, strs, line_strs = sections(binary)
    got = {p.header.offset: ours(p) for p in iter_line_programs(line, debug_str=strs, debug_line_str=line_strs)}
    assert len(got) == len(expected) > 100
    assert got == expected


def symbolizer_lines(binary: Path, addresses: list[int]) -> list[dict]:
    text = run_tool(need_tool("llvm-symbolizer"), "--no-inlines", "--output-style=JSON", f"--obj={binary}",
                    input="".join(f"{a:#x}\n" for a in addresses))
    return [json.loads(line)["Symbol"][0] for line in text.splitlines() if line.strip()]


def lookup_everywhere(programs: list[LineProgram], address: int) -> tuple[LineProgram, int] | None:
    for program in programs:
        row = program.lookup(address)
        if row is not None:
            return program, row
    return None


@pytest.mark.parametrize("variant", ["v2-gcc", "v4", "v5", "v5-gcc"])
def test_lookup_matches_llvm_symbolizer(built, variant):
    binary = built[variant]
    line, strs, line_strs = sections(binary)
    programs = list(iter_line_programs(line, debug_str=strs, debug_line_str=line_strs))
    dirs = comp_dirs(binary)
    covered = [a for p in programs for low, high, _, _ in p.sequences() for a in range(low, high)]
    addresses = sorted(random.Random(2).sample(covered, min(400, len(covered)))) + [0, max(covered) + 1]
    answers = symbolizer_lines(binary, addresses)
    assert len(answers) == len(addresses) >= 150
    for address, answer in zip(addresses, answers):
        found = lookup_everywhere(programs, address)
        if found is None:
            assert answer["Line"] == 0 and answer["FileName"] == "", hex(address)
            continue
        program, row = found
        rows = program.rows
        assert (rows.line[row], rows.column[row], rows.discriminator[row]) == (
            answer["Line"], answer["Column"], answer["Discriminator"]), hex(address)
        comp_dir = dirs[program.header.offset]
        assert program.header.file_path(rows.file[row], comp_dir) == answer["FileName"], hex(address)


def test_file_path_matches_llvm_symbolizer_on_python():
    """Relative comp_dir ("./build-debug"), relative and absolute include directories, DWARF 5 dir 0."""
    line, strs, line_strs = sections(PYTHON_DBG)
    programs = list(iter_line_programs(line, debug_str=strs, debug_line_str=line_strs))
    dirs = comp_dirs(PYTHON_DBG)
    rng = random.Random(3)
    picks = []
    for program in rng.sample(programs, 40):
        rows = program.rows
        for _ in range(5):  # row addresses, and addresses anywhere inside a sequence
            i = rng.randrange(len(rows))
            if not rows.flags[i] & END_SEQUENCE and program.lookup(rows.address[i]) is not None:
                picks.append(rows.address[i])
            low, high, _, _ = rng.choice(program.sequences())
            picks.append(rng.randrange(low, high))
    answers = symbolizer_lines(PYTHON_DBG, picks)
    assert len(answers) == len(picks) > 300
    seen_dirs = set()
    for address, answer in zip(picks, answers):
        program, row = lookup_everywhere(programs, address)
        rows = program.rows
        path = program.header.file_path(rows.file[row], dirs[program.header.offset])
        seen_dirs.add(dirs[program.header.offset])
        assert (path, rows.line[row], rows.column[row]) == (answer["FileName"], answer["Line"], answer["Column"])
    assert "./build-debug" in seen_dirs and len(seen_dirs) == 2  # a relative and an absolute comp_dir


GO_SOURCE = """package main

import "fmt"

func fib(n int) int {
	if n < 2 {
		return n
	}
	return fib(n-1) + fib(n-2)
}

func main() { fmt.Println(fib(20)) }
"""


def test_go_binary_matches_llvm_tools(tmp_path):
    """The Go linker writes version 2 tables with opcode_base 11: opcodes 11 and 12 are special there."""
    (tmp_path / "main.go").write_text(GO_SOURCE)
    (tmp_path / "go.mod").write_text("module fib\ngo 1.19\n")
    env = {"HOME": str(tmp_path), "GOCACHE": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin", "GOFLAGS": "-mod=mod"}
    subprocess.run([need_tool("go"), "build", "-o", "fib", "."], cwd=tmp_path, env=env, check=True)
    binary = tmp_path / "fib"
    expected = dwarfdump_programs(run_tool(need_tool("llvm-dwarfdump"), "--debug-line", str(binary)))
    line, strs, line_strs = sections(binary)
    programs = list(iter_line_programs(line, debug_str=strs, debug_line_str=line_strs))
    assert {p.header.offset: ours(p) for p in programs} == expected
    assert {p.header.opcode_base for p in programs} == {11}
    dirs = comp_dirs(binary)
    rng = random.Random(4)
    picks = [a for p in rng.sample(programs, 10) for low, high, _, _ in p.sequences()[:3]
             for a in rng.sample(range(low, high), min(5, high - low))]
    answers = symbolizer_lines(binary, picks)
    assert len(answers) == len(picks) > 50
    for address, answer in zip(picks, answers):
        program, row = lookup_everywhere(programs, address)
        rows = program.rows
        path = program.header.file_path(rows.file[row], dirs.get(program.header.offset))
        assert (path, rows.line[row]) == (answer["FileName"], answer["Line"]), hex(address)


WINDOWS_NAMES = r"""int f1(int x) {
#line 10 "C:\\src\\win.c"
  return x * 3 + 1;
}
int f2(int x) {
#line 20 "\\\\srv\\share\\net.c"
  return x * 5 + 2;
}
int f3(int x) {
#line 30 "\\\\srv"
  return x * 7 + 3;
}
int f4(int x) {
#line 40 "c:rel.c"
  return x * 11 + 4;
}
int main(int argc, char **argv) { return f1(argc) + f2(argc) + f3(argc) + f4(argc); }
"""


@pytest.mark.parametrize("version", [4, 5])
def test_windows_style_names_follow_llvm(tmp_path, version):
    """C:\\x and \\\\server\\x are absolute for LLVM even on Linux; \\\\server and c:x are not."""
    (tmp_path / "w.c").write_text(WINDOWS_NAMES)
    binary = tmp_path / "w"
    subprocess.run([need_tool("gcc"), "-g", "-O0", f"-gdwarf-{version}", "w.c", "-o", str(binary)],
                   cwd=tmp_path, check=True)
    line, strs, line_strs = sections(binary)
    programs = list(iter_line_programs(line, debug_str=strs, debug_line_str=line_strs))
    dirs = comp_dirs(binary)
    addresses = sorted({a for p in programs for a, f in zip(p.rows.address, p.rows.flags) if not f & END_SEQUENCE})
    paths = set()
    for address, answer in zip(addresses, symbolizer_lines(binary, addresses), strict=True):
        program, row = lookup_everywhere(programs, address)
        path = program.header.file_path(program.rows.file[row], dirs[program.header.offset])
        assert (path, program.rows.line[row]) == (answer["FileName"], answer["Line"]), hex(address)
        paths.add(path)
    assert {"C:\\src\\win.c", "\\\\srv\\share\\net.c", f"{tmp_path}/\\\\srv", f"{tmp_path}/c:rel.c"} <= paths


def test_file_path_rules():
    """DWARF <= 4 is 1-based with dir 0 = comp dir; DWARF 5 is 0-based; absolute names win."""
    from formats.dwarf.line import FileEntry, LineProgramHeader

    def header(version, dirs, files):
        return LineProgramHeader(0, 0, version, 8, 1, 1, True, -5, 14, 13, tuple(dirs),
                                 tuple(FileEntry(*f) for f in files), 0, 0)

    v4 = header(4, ["inc", "/abs"], [("a.c", 0), ("b.h", 1), ("c.h", 2), ("/x/d.c", 1), ("e.c", 9)])
    assert [v4.file_path(i, "/cu") for i in range(7)] == [
        None, "/cu/a.c", "/cu/inc/b.h", "/abs/c.h", "/x/d.c", "/cu/e.c", None]
    assert v4.file_path(2, None) == "inc/b.h"
    v5 = header(5, ["/cu", "inc"], [("a.c", 0), ("b.h", 1)])
    assert [v5.file_path(i, "/cu") for i in range(3)] == ["/cu/a.c", "/cu/inc/b.h", None]


# --- corrupt input -------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["v2-gcc", "v4", "v5-64"])
def sample_program(built, request) -> tuple[bytes, bytes | None, bytes | None, int]:
    """The largest program of one compiled variant, cut out of its section."""
    line, strs, line_strs = sections(built[request.param])
    program = max(iter_line_programs(line, debug_str=strs, debug_line_str=line_strs), key=lambda p: len(p.rows))
    return line[program.header.offset:program.header.program_end], strs, line_strs, len(program.rows)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_corrupt_programs_raise_only_format_errors(sample_program, data):
    raw, strs, line_strs, _ = sample_program
    buf = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 8))):
        buf[data.draw(st.integers(0, len(buf) - 1))] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):  # cut the unit short, and say so in its length field
        buf = buf[:data.draw(st.integers(12, len(buf)))]
        buf[0:4] = struct.pack("<I", len(buf) - 4)
    errors = []
    tail = list(iter_line_programs(bytes(buf) + raw, debug_str=strs, debug_line_str=line_strs, on_error=errors.append))
    assert all(isinstance(e, FormatError) for e in errors) and len(tail) + len(errors) <= 2 + len(buf) // 4
    try:
        parse_line_header(bytes(buf), 0, debug_str=strs, debug_line_str=line_strs, path="t")
        program = parse_line_program(bytes(buf), 0, debug_str=strs, debug_line_str=line_strs, path="t")
    except FormatError as exc:
        assert exc.path == "t" and exc.offset is not None
        return
    assert len(program.rows) <= len(buf)  # every row costs at least one byte
    program.lookup(data.draw(st.integers(0, 2**64 - 1)))


def test_truncation_names_the_offset(sample_program):
    raw, strs, line_strs, rows = sample_program
    padded = b"\x07" * 16 + raw
    assert len(parse_line_program(memoryview(padded), 16, debug_str=strs, debug_line_str=line_strs).rows) == rows
    with pytest.raises(FormatError) as err:
        parse_line_program(padded[:-5], 16, path="cut")
    assert err.value.offset >= 16 and err.value.path == "cut"
    with pytest.raises(FormatError):  # a unit length that claims the reserved range
        parse_line_program(struct.pack("<I", 0xFFFFFFF5) + raw[4:], 0)


# --- hand-assembled programs, decoded by llvm-dwarfdump from an object that carries them ------


def uleb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def sleb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        done = (value == 0 and not byte & 0x40) or (value == -1 and byte & 0x40)
        out.append(byte if done else byte | 0x80)
        if done:
            return bytes(out)


def ext(sub: int, operands: bytes, length: int | None = None) -> bytes:
    """DW_LNS_extended: 0, ULEB length (sub-opcode + operands unless overridden), sub-opcode, operands."""
    return b"\0" + uleb(len(operands) + 1 if length is None else length) + bytes([sub]) + operands


def unit(version: int, params: bytes, tables: bytes, program: bytes, *, dwarf64: bool = False) -> bytes:
    """unit_length, version, [address_size, seg_sel (v5)], header_length, params, tables, program."""
    head = struct.pack("<H", version) + (b"\x08\x00" if version >= 5 else b"")
    header = params + tables
    head += struct.pack("<Q" if dwarf64 else "<I", len(header))
    body = head + header + program
    if dwarf64:
        return b"\xff\xff\xff\xff" + struct.pack("<Q", len(body)) + body
    return struct.pack("<I", len(body)) + body


STD13 = bytes([0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1])  # standard_opcode_lengths for opcode_base 13

HAND = {
    # DWARF 3, min_inst_length 4, opcode_base 10 (so 10-12 are special), line_base -3, line_range 12
    "v3-odd": unit(3, bytes([4, 1]) + struct.pack("<bBB", -3, 12, 10) + STD13[:9],
                   b"inc\0" b"/abs\0" b"\0"                                   # include_directories
                   b"a.c\0\0\0\0" b"b.h\0\x01\0\0" b"c.h\0\x02\x05\x06" b"\0",  # file_names
                   ext(2, struct.pack("<I", 0x2000))                         # set_address, 4-byte operand
                   + b"\x0a\x17" + b"\x02" + uleb(3) + b"\x01"                # specials, advance_pc 3*4, copy
                   + b"\x08\x20" + b"\x09" + struct.pack("<H", 0x102)         # const_add_pc, special, fixed_advance_pc
                   + b"\x03" + sleb(-2) + b"\x06\x07\x01"  # advance_line -2, negate_stmt, basic_block, copy
                   + ext(3, b"def.c\0" + uleb(2) + uleb(0) + uleb(0))         # define_file def.c in /abs
                   + b"\x04" + uleb(4) + b"\x01"                              # set_file 4 (the defined one), copy
                   + ext(0x80, b"xyz") + b"\x05" + uleb(9) + b"\x01"          # unknown DW_LNE skipped, set_column, copy
                   + ext(4, uleb(7)) + b"\x30"                                # set_discriminator 7, special
                   + ext(2, b"\x01\x02\x03") + b"\x01"                        # 3-byte set_address: skipped by LLVM
                   + b"\x03" + sleb(1000) + b"\x02" + uleb(1) + ext(1, b"")   # end_sequence
                   + ext(2, struct.pack("<Q", 0x1000)) + b"\x25\x02" + uleb(2) + ext(1, b"")  # earlier sequence
                   + ext(2, struct.pack("<Q", 0x3000)) + ext(1, b"")),       # empty sequence (low == high)
    # DWARF 4, opcode_base 14: opcode 13 is unknown with 2 ULEB operands; 16-bit file and column registers
    "v4-wide": unit(4, bytes([1, 1, 0]) + struct.pack("<bBB", -5, 14, 14) + STD13 + b"\x02",
                    b"\0" b"x.c\0\0\0\0" b"\0",
                    ext(2, struct.pack("<Q", 0x401000))
                    + b"\x0a\x0b" + b"\x0c" + uleb(5)  # prologue_end, epilogue_begin, set_isa
                    + b"\x0d" + uleb(300) + uleb(1) + b"\x20"                 # unknown standard opcode 13, special
                    + b"\x05" + uleb(70001) + b"\x04" + uleb(65538) + b"\x01"  # column/file above 16 bits
                    + b"\x03" + sleb(-10) + b"\x2f" + b"\x03" + sleb(123456) + b"\xf0"
                    + b"\x00\x00\x01"                                         # DW_LNE length 0: skipped, then a copy
                    + b"\x21" + ext(1, b"")),
    # DWARF 4 in the 64-bit format, min_inst_length 2
    "v4-64": unit(4, bytes([2, 1, 1]) + struct.pack("<bBB", -1, 4, 13) + STD13,
                  b"d\0\0" b"y.c\0\x01\0\0" b"\0",
                  ext(2, struct.pack("<Q", 0x5000)) + bytes(range(13, 40)) + b"\x08\x02" + uleb(1 << 20) + ext(1, b""),
                  dwarf64=True),
}


@pytest.fixture(scope="module")
def empty_object(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("obj") / "empty.o"
    subprocess.run([need_tool("gcc"), "-c", "-x", "c", "/dev/null", "-o", str(path)], check=True)
    return path


def dwarfdump_section(empty_object: Path, tmp_path: Path, sections: dict[str, bytes]) -> dict[int, dict]:
    """Put raw sections into an object with objcopy and let llvm-dwarfdump decode them."""
    argv = [need_tool("objcopy")]
    for name, data in sections.items():
        (tmp_path / name).write_bytes(data)
        argv += ["--add-section", f"{name}={tmp_path / name}"]
    subprocess.run([*argv, str(empty_object), str(tmp_path / "out.o")], check=True)
    return dwarfdump_programs(run_tool(need_tool("llvm-dwarfdump"), "--debug-line", str(tmp_path / "out.o")))


@pytest.mark.parametrize("name", list(HAND))
def test_hand_assembled_programs_match_llvm_dwarfdump(empty_object, tmp_path, name):
    section = b"".join(HAND.values())
    offset = sum(len(HAND[n]) for n in list(HAND)[:list(HAND).index(name)])
    expected = dwarfdump_section(empty_object, tmp_path, {".debug_line": section})[offset]
    got = ours(parse_line_program(section, offset))
    defined = got["files"][len(expected["files"]):]  # DW_LNE_define_file entries come after the prologue's
    got["files"] = got["files"][:len(expected["files"])]
    assert got == expected
    assert defined == ([["def.c", 2]] if name == "v3-odd" else [])


def test_dwarf5_entry_forms_match_llvm_dwarfdump(empty_object, tmp_path):
    line_str = b"/cu\0"
    debug_str = b"pad\0inc\0"
    dirs = b"\x01" + uleb(1) + uleb(0x1F) + uleb(2) + struct.pack("<II", 0, 0)  # path as line_strp: "/cu", "/cu"
    files = (b"\x04" + uleb(1) + uleb(0x08) + uleb(2) + uleb(0x0F)       # path string, dir_index udata,
             + uleb(5) + uleb(0x1E) + uleb(4) + uleb(0x0B)                # MD5 data16, size data1
             + uleb(3)
             + b"m.c\0" + uleb(0) + bytes(range(16)) + b"\x07"
             + b"sub/n.h\0" + uleb(1) + bytes(16) + b"\x00"
             + b"/abs/o.h\0" + uleb(1) + bytes(16) + b"\x01")
    files_strp = (b"\x02" + uleb(1) + uleb(0x0E) + uleb(2) + uleb(0x05)  # path strp, dir_index data2
                  + uleb(1) + struct.pack("<IH", 4, 1))
    dirs_inline = b"\x01" + uleb(1) + uleb(0x08) + uleb(2) + b"/cu\0" + b"inc\0"  # path as string
    files_mixed = (b"\x06" + uleb(1) + uleb(0x08) + uleb(2) + uleb(0x06)  # path string, dir_index data4,
                   + uleb(3) + uleb(0x09) + uleb(4) + uleb(0x07)          # timestamp block, size data8,
                   + uleb(0x2001) + uleb(0x25) + uleb(0x2002) + uleb(0x0A)  # LLVM source strx1, vendor block1
                   + uleb(2)
                   + b"a.c\0" + struct.pack("<I", 1) + uleb(3) + b"xyz" + struct.pack("<Q", 99) + b"\x05" + b"\x02zz"
                   + b"b.c\0" + struct.pack("<I", 0) + uleb(0) + struct.pack("<Q", 1) + b"\x06" + b"\x00")
    params = bytes([1, 1, 1]) + struct.pack("<bBB", -5, 14, 13) + STD13
    program = ext(2, struct.pack("<Q", 0x1000)) + b"\x14" + b"\x04\x02\x21" + b"\x04\x00\x21" + ext(1, b"")
    first = unit(5, params, dirs + files, program)
    second = unit(5, params, dirs + files_strp, program)
    third = unit(5, params, dirs_inline + files_mixed, program)
    section = first + second + third
    expected = dwarfdump_section(empty_object, tmp_path, {".debug_line": section, ".debug_line_str": line_str,
                                                          ".debug_str": debug_str})
    got = {p.header.offset: ours(p) for p in iter_line_programs(section, debug_str=debug_str, debug_line_str=line_str)}
    assert got == expected and len(got) == 3
    assert got[len(first) + len(second)]["files"] == [["a.c", 1], ["b.c", 0]]
    program = parse_line_program(section, 0, debug_line_str=line_str)
    assert [program.header.file_path(i, "/cu") for i in range(3)] == ["/cu/m.c", "/cu/sub/n.h", "/abs/o.h"]


def test_iteration_can_skip_a_corrupt_unit(sample_program):
    raw, strs, line_strs, rows = sample_program
    bad = bytearray(raw)
    bad[4:6] = struct.pack("<H", 9)  # version 9: corrupt, but the unit length still says where it ends
    errors = []
    section = raw + bytes(bad) + raw
    got = list(iter_line_programs(section, debug_str=strs, debug_line_str=line_strs, on_error=errors.append))
    assert [p.header.offset for p in got] == [0, 2 * len(raw)] and [len(p.rows) for p in got] == [rows, rows]
    assert len(errors) == 1 and errors[0].offset == len(raw) + 4
    with pytest.raises(FormatError):
        list(iter_line_programs(section, debug_str=strs, debug_line_str=line_strs))
