"""DIE scanning checked against the real peers: llvm-symbolizer inline chains, llvm-dwarfdump units and DIEs."""

from __future__ import annotations

import json
import random
import re
import subprocess
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from formats.dwarf.aranges import find_unit, unit_address_ranges
from formats.dwarf.constants import DW_TAG
from formats.dwarf.dies import decode_fields
from formats.dwarf.info import DwarfSections, ScanStats, compile_units, scan_units
from formats.dwarf.names import DieResolver
from formats.dwarf.units import iter_unit_headers
from formats.elf import ElfFile
from formats.errors import FormatError
from formats.leb128 import read_uleb
from conftest import PYTHON_DBG, need_tool

NESTED_C = r"""
#include <stdlib.h>
static inline __attribute__((always_inline)) int leaf(int x) { return x * 3 + (x >> 2); }
static inline __attribute__((always_inline)) int mid(int x) {
  int s = 0;
  for (int i = 0; i < x; i++) s += leaf(i);
  return s;
}
static inline __attribute__((always_inline)) int top(int x) { return mid(x) + leaf(x + 1); }
__attribute__((noinline)) int f1(int a) { return top(a) + 1; }
__attribute__((noinline)) int f2(int a) { return top(a * 2) - leaf(a); }
__attribute__((noinline)) int f3(int a) { return leaf(a) ^ leaf(a + 7); }
int main(int argc, char **argv) { return f1(argc) + f2(atoi(argv[0])) + f3(argc); }
"""

METHODS_CC = r"""
#include <cstdio>
#include <vector>
namespace ns {
struct Acc {
  int total = 0;
  void add(int v);
  inline __attribute__((always_inline)) void add2(int v) { add(v); add(v * 2); }
  template <typename T> __attribute__((always_inline)) inline void addAll(const T &xs) {
    for (auto x : xs) add2(x);
  }
};
void Acc::add(int v) { total += v * 3; if (total > 1000) std::puts("big"); }
}
int main(int argc, char **) {
  std::vector<int> v{1, 2, 3, argc};
  ns::Acc a;
  a.addAll(v);
  a.add2(argc);
  return a.total;
}
"""

LTO_A = r"""
extern int helper(int);
static inline __attribute__((always_inline)) int sq(int x) { return x * x + helper(x); }
int use_a(int v) { return sq(v) + sq(v + 1); }
"""

LTO_B = r"""
int helper(int x) { return x ^ 0x55; }
int use_a(int);
static inline int twice(int y) { return use_a(y) * 2; }
int main(int argc, char **argv) { (void)argv; return twice(argc) + helper(argc); }
"""

# DWARF 5 forms GCC does not emit (Clang does): strx1/strx2/strx, addrx/addrx1, rnglistx lists with
# startx_length, base_addressx + offset_pair and startx_endx, implicit_const, udata discriminator.
HAND_DWARF5_S = r"""
	.text
	.file 0 "DIR" "t.c"
	.file 1 "t.c"
	.globl	main
	.type	main, @function
main:
.Lfunc_begin:
	.loc 1 10 0
	nop
.Linl1_begin:
	.loc 1 3 0
	nop
	nop
.Linl2_begin:
	.loc 1 2 0
	nop
.Linl2_end:
	.loc 1 3 0
	nop
.Linl1_end:
	.loc 1 11 0
	nop
.Linl1b_begin:
	.loc 1 3 0
	nop
.Linl1b_end:
	.loc 1 12 0
	xorl	%eax, %eax
	ret
.Lfunc_end:
	.size	main, .-main

	.section	.debug_abbrev,"",@progbits
.Labbrev:
	.uleb128 1	# abbrev 1: DW_TAG_compile_unit, children
	.uleb128 0x11
	.byte 1
	.uleb128 0x25, 0x25	# producer strx1
	.uleb128 0x03, 0x25	# name strx1
	.uleb128 0x1b, 0x25	# comp_dir strx1
	.uleb128 0x72, 0x17	# str_offsets_base sec_offset
	.uleb128 0x73, 0x17	# addr_base sec_offset
	.uleb128 0x74, 0x17	# rnglists_base sec_offset
	.uleb128 0x11, 0x1b	# low_pc addrx
	.uleb128 0x12, 0x06	# high_pc data4
	.uleb128 0x10, 0x17	# stmt_list sec_offset
	.uleb128 0, 0
	.uleb128 2	# abbrev 2: abstract DW_TAG_subprogram, no children
	.uleb128 0x2e
	.byte 0
	.uleb128 0x6e, 0x1a	# linkage_name strx
	.uleb128 0x03, 0x26	# name strx2
	.uleb128 0x3b, 0x05	# decl_line data2
	.uleb128 0x20, 0x21	# inline implicit_const 3
	.sleb128 3
	.uleb128 0, 0
	.uleb128 3	# abbrev 3: concrete DW_TAG_subprogram, children
	.uleb128 0x2e
	.byte 1
	.uleb128 0x03, 0x25	# name strx1
	.uleb128 0x3b, 0x0b	# decl_line data1
	.uleb128 0x11, 0x29	# low_pc addrx1
	.uleb128 0x12, 0x06	# high_pc data4
	.uleb128 0, 0
	.uleb128 4	# abbrev 4: DW_TAG_inlined_subroutine with rnglistx ranges, children
	.uleb128 0x1d
	.byte 1
	.uleb128 0x31, 0x13	# abstract_origin ref4
	.uleb128 0x55, 0x23	# ranges rnglistx
	.uleb128 0x58, 0x21	# call_file implicit_const 1
	.sleb128 1
	.uleb128 0x59, 0x0b	# call_line data1
	.uleb128 0x57, 0x0b	# call_column data1
	.uleb128 0, 0
	.uleb128 5	# abbrev 5: DW_TAG_inlined_subroutine with addrx low_pc, no children
	.uleb128 0x1d
	.byte 0
	.uleb128 0x31, 0x13	# abstract_origin ref4
	.uleb128 0x11, 0x1b	# low_pc addrx
	.uleb128 0x12, 0x06	# high_pc data4
	.uleb128 0x58, 0x0b	# call_file data1
	.uleb128 0x59, 0x0b	# call_line data1
	.uleb128 0x57, 0x0b	# call_column data1
	.uleb128 0x2136, 0x0f	# GNU_discriminator udata
	.uleb128 0, 0
	.uleb128 0

	.section	.debug_info,"",@progbits
.Linfo:
	.long .Linfo_end - .Linfo_version
.Linfo_version:
	.short 5
	.byte 1	# DW_UT_compile
	.byte 8
	.long .Labbrev
	.uleb128 1	# compile_unit
	.byte 0, 1, 2
	.long .Lstroff_base
	.long .Laddr_base
	.long .Lrng_base
	.uleb128 0
	.long .Lfunc_end - .Lfunc_begin
	.long .Ldebug_line0
.Ldie_outer:
	.uleb128 2	# abstract outer_inl
	.uleb128 3
	.short 4
	.short 3
.Ldie_inner:
	.uleb128 2	# abstract inner_inl
	.uleb128 5
	.short 6
	.short 2
	.uleb128 3	# main
	.byte 7
	.byte 9
	.byte 0
	.long .Lfunc_end - .Lfunc_begin
	.uleb128 4	# outer_inl inlined at line 10
	.long .Ldie_outer - .Linfo
	.uleb128 0
	.byte 10, 5
	.uleb128 5	# inner_inl inlined into it at line 3
	.long .Ldie_inner - .Linfo
	.uleb128 2
	.long .Linl2_end - .Linl2_begin
	.byte 1, 3, 7
	.uleb128 2
	.byte 0	# end of outer_inl's children
	.uleb128 4	# outer_inl inlined again at line 11
	.long .Ldie_outer - .Linfo
	.uleb128 1
	.byte 11, 3
	.byte 0	# no children
	.byte 0	# end of main's children
	.byte 0	# end of the unit's children
.Linfo_end:

	.section	.debug_str_offsets,"",@progbits
	.long .Lstroff_end - .Lstroff_version
.Lstroff_version:
	.short 5, 0
.Lstroff_base:
	.long .Ls_producer, .Ls_name, .Ls_dir, .Ls_outer_link, .Ls_outer, .Ls_inner_link, .Ls_inner, .Ls_main
.Lstroff_end:

	.section	.debug_str,"MS",@progbits,1
.Ls_producer:	.string "hand-written assembly"
.Ls_name:	.string "t.c"
.Ls_dir:	.string "DIR"
.Ls_outer_link:	.string "_Z9outer_inlv"
.Ls_outer:	.string "outer_inl"
.Ls_inner_link:	.string "_Z9inner_inlv"
.Ls_inner:	.string "inner_inl"
.Ls_main:	.string "main"

	.section	.debug_addr,"",@progbits
	.long .Laddr_end - .Laddr_version
.Laddr_version:
	.short 5
	.byte 8, 0
.Laddr_base:
	.quad .Lfunc_begin, .Linl1_begin, .Linl2_begin, .Linl1b_begin, .Linl1b_end
.Laddr_end:

	.section	.debug_rnglists,"",@progbits
	.long .Lrng_end - .Lrng_version
.Lrng_version:
	.short 5
	.byte 8, 0
	.long 2	# offset_entry_count
.Lrng_base:
	.long .Lrl0 - .Lrng_base, .Lrl1 - .Lrng_base
.Lrl0:
	.byte 3	# DW_RLE_startx_length
	.uleb128 1
	.uleb128 .Linl2_begin - .Linl1_begin
	.byte 1	# DW_RLE_base_addressx
	.uleb128 2
	.byte 4	# DW_RLE_offset_pair
	.uleb128 0
	.uleb128 .Linl1_end - .Linl2_begin
	.byte 0	# DW_RLE_end_of_list
.Lrl1:
	.byte 2	# DW_RLE_startx_endx
	.uleb128 3
	.uleb128 4
	.byte 0
.Lrng_end:

	.section	.debug_line,"",@progbits
.Ldebug_line0:
	.section	.note.GNU-stack,"",@progbits
"""

# Two C++ units sharing library types: dwz moves the shared DIEs into DW_TAG_partial_unit units that
# the compile units reach through DW_TAG_imported_unit and DW_FORM_ref_addr.
DWZ_ONE_CC = r"""
#include <map>
#include <string>
#include <vector>
__attribute__((noinline)) int one(int n) {
  std::vector<int> v(n, 3);
  std::map<std::string, int> m;
  m["a"] = n;
  int s = 0;
  for (int x : v) s += x;
  return s + m.size();
}
"""

DWZ_TWO_CC = r"""
#include <map>
#include <string>
#include <vector>
int one(int);
__attribute__((noinline)) int two(int n) {
  std::vector<int> v(n, 5);
  std::map<std::string, int> m;
  m["b"] = n;
  int s = 0;
  for (int x : v) s += x;
  return s + m.size();
}
int main(int argc, char **) { return one(argc) + two(argc); }
"""

VARIANTS = ["nested-dwarf4", "nested-dwarf5", "methods-dwarf4", "methods-dwarf5", "lto", "methods-noaranges",
            "hand-dwarf5", "dwz"]


def _compile(argv: list) -> Path:
    subprocess.run([str(a) for a in argv], check=True, capture_output=True)
    return Path(argv[argv.index("-o") + 1])


@pytest.fixture(scope="module")
def programs(tmp_path_factory) -> dict[str, Path]:
    """Every test program, compiled with the system gcc/g++ (nested always_inline, C++ methods, LTO)."""
    out = tmp_path_factory.mktemp("dwarf-programs")
    for name, text in (("nested.c", NESTED_C), ("methods.cc", METHODS_CC), ("lto_a.c", LTO_A), ("lto_b.c", LTO_B)):
        (out / name).write_text(text)
    built = {}
    for dwarf in (4, 5):
        flags = ["-g", "-O2", f"-gdwarf-{dwarf}", "-ffunction-sections"]
        built[f"nested-dwarf{dwarf}"] = _compile(["gcc", *flags, "-o", out / f"nested{dwarf}", out / "nested.c"])
        built[f"methods-dwarf{dwarf}"] = _compile(["g++", *flags, "-o", out / f"methods{dwarf}", out / "methods.cc"])
    (out / "hand.s").write_text(HAND_DWARF5_S.replace("DIR", str(out)))
    built["hand-dwarf5"] = _compile(["gcc", "-o", out / "hand", out / "hand.s"])
    (out / "dwz_one.cc").write_text(DWZ_ONE_CC)
    (out / "dwz_two.cc").write_text(DWZ_TWO_CC)
    built["dwz"] = _compile(["g++", "-g", "-O2", "-o", out / "dwz", out / "dwz_one.cc", out / "dwz_two.cc"])
    subprocess.run([need_tool("dwz"), str(built["dwz"])], check=True)
    built["lto"] = _compile(["gcc", "-g", "-O2", "-flto", "-o", out / "lto", out / "lto_a.c", out / "lto_b.c"])
    # Without .debug_aranges the unit of an address must come from the unit DIEs' own ranges.
    built["methods-noaranges"] = out / "methods-noaranges"
    subprocess.run(["objcopy", "--remove-section=.debug_aranges", out / "methods5", built["methods-noaranges"]],
                   check=True)
    return built


def _sections(path: Path) -> DwarfSections:
    return DwarfSections.from_elf(ElfFile(path))


def _instruction_addresses(binary: Path) -> list[int]:
    text = subprocess.run([need_tool("objdump"), "-d", "--no-show-raw-insn", str(binary)],
                          capture_output=True, text=True, check=True).stdout
    return [int(m.group(1), 16) for m in re.finditer(r"^\s+([0-9a-f]+):\t", text, re.M)]


def _llvm_inlines(binary: Path, addresses: list[int]) -> list[list[dict]]:
    out = subprocess.run([need_tool("llvm-symbolizer"), "--inlines", "--no-demangle", "--output-style=JSON",
                          f"--obj={binary}"], input="\n".join(hex(a) for a in addresses),
                         capture_output=True, text=True, check=True).stdout
    return [json.loads(line)["Symbol"] for line in out.splitlines() if line.strip()]


def _line_table_files(binary: Path) -> dict[int, dict[int, str]]:
    """{stmt_list offset: {file index: file name}} from llvm-dwarfdump --debug-line."""
    text = subprocess.run([need_tool("llvm-dwarfdump"), "--debug-line", str(binary)],
                          capture_output=True, text=True, check=True).stdout
    tables: dict[int, dict[int, str]] = {}
    current: dict[int, str] = {}
    for m in re.finditer(r'debug_line\[(0x[0-9a-f]+)\]|file_names\[\s*(\d+)\]:\s*\n\s*name: "([^"]*)"', text):
        if m.group(1):
            current = tables.setdefault(int(m.group(1), 16), {})
        else:
            current[int(m.group(2))] = m.group(3)
    return tables


def _compare_chains(binary: Path, addresses: list[int]) -> tuple[int, list[str]]:
    """Check our inline chain of every address against llvm-symbolizer; returns (inlined frames, mismatches)."""
    sections = _sections(binary)
    units = {u.unit.offset: u for u in scan_units(sections)}
    table = unit_address_ranges(sections, units.values())
    files = _line_table_files(binary)
    mismatches: list[str] = []
    frames_checked = 0
    for address, frames in zip(addresses, _llvm_inlines(binary, addresses), strict=True):
        offset = find_unit(table, address)
        unit = units.get(offset)
        chain = unit.chain(address) if unit is not None else []
        if not chain:
            # No DIE: llvm-symbolizer falls back to one frame from the line table / symbol table.
            if len(frames) != 1 or frames[0]["StartLine"] != 0:
                mismatches.append(f"{address:#x}: no subroutine, llvm has {frames}")
            continue
        names = files.get(unit.unit.stmt_list, {})
        if len(chain) != len(frames):
            mismatches.append(f"{address:#x}: depth {len(chain)} vs llvm {len(frames)}")
            continue
        frames_checked += len(chain) - 1
        for level, (sub, frame) in enumerate(zip(chain, frames)):
            # llvm-symbolizer replaces the outermost name with the symbol-table name: compare inner ones only.
            if level < len(chain) - 1 and sub.name != frame["FunctionName"]:
                mismatches.append(f"{address:#x} level {level}: name {sub.name} vs {frame['FunctionName']}")
            if sub.decl_line != frame["StartLine"]:
                mismatches.append(f"{address:#x} level {level}: decl_line {sub.decl_line} vs {frame['StartLine']}")
            if level + 1 < len(chain):
                caller = frames[level + 1]
                got = (sub.call_line, sub.call_column, sub.call_discriminator)
                want = (caller["Line"], caller["Column"], caller["Discriminator"])
                if got != want:
                    mismatches.append(f"{address:#x} level {level}: call {got} vs {want}")
                call_name = names.get(sub.call_file)
                if call_name is None or Path(call_name).name != Path(caller["FileName"]).name:
                    mismatches.append(f"{address:#x} level {level}: call_file {call_name} vs {caller['FileName']}")
    return frames_checked, mismatches


@pytest.mark.parametrize("variant", VARIANTS)
def test_inline_chains_match_llvm_symbolizer(programs, variant):
    binary = programs[variant]
    addresses = _instruction_addresses(binary)
    inlined, mismatches = _compare_chains(binary, addresses)
    assert mismatches == []
    assert inlined >= 6


def test_nested_inlines_are_three_deep(programs):
    """The always_inline leaf inside mid inside top inside f1: our deepest chain is 4 frames, as llvm's."""
    binary = programs["nested-dwarf5"]
    sections = _sections(binary)
    (unit,) = list(scan_units(sections))
    depths = {len(unit.chain(a)) for a in _instruction_addresses(binary)}
    assert max(depths) == 4
    leaf_sites = {(s.call_line, s.call_column) for s in unit.subroutines if s.is_inlined and s.name == "leaf"}
    assert len(leaf_sites) >= 4  # inlined at several call sites


def test_python_sample_matches_llvm_symbolizer():
    addresses = _instruction_addresses(PYTHON_DBG)
    picked = sorted(random.Random(11).sample(addresses, 200))
    inlined, mismatches = _compare_chains(PYTHON_DBG, picked)
    assert mismatches == []
    assert inlined > 10  # some of the sample sits in inlined code


def _dwarfdump_info(binary: Path, *flags: str) -> str:
    return subprocess.run([need_tool("llvm-dwarfdump"), "--debug-info", *flags, str(binary)],
                          capture_output=True, text=True, check=True).stdout


def _low_high(block: str) -> tuple[int, int | None]:
    """LLVM 14 getLowAndHighPC from one `llvm-dwarfdump -v` DIE: the raw index for DW_FORM_addrx1..4
    (getAsSectionedAddress resolves only addrx/GNU_addr_index), high_pc as address or low + constant."""
    form, value = re.search(r"DW_AT_low_pc \[DW_FORM_(\w+)\]\t\((.*)\)", block).groups()
    if form in ("addrx", "GNU_addr_index"):
        low = int(re.search(r"address = (0x[0-9a-f]+)", value)[1], 16)
    else:
        low = int(re.search(r"(?:indexed \()?(0x)?([0-9a-f]+)", value)[2], 16)
    form, value = re.search(r"DW_AT_high_pc \[DW_FORM_(\w+)\]\t\((.*)\)", block).groups()
    if form == "addr":
        return low, int(value, 16)
    if form.startswith("data") or form == "udata":
        return low, low + int(value, 16)
    return low, None


@pytest.mark.parametrize("variant", ["nested-dwarf4", "methods-dwarf5", "lto", "hand-dwarf5", "dwz"])
def test_units_and_dies_match_llvm_dwarfdump(programs, variant):
    binary = programs[variant]
    text = _dwarfdump_info(binary)
    want_units = [(int(m[0], 16), int(m[1], 16), int(m[2], 16), int(m[3], 16))
                  for m in re.findall(r"^(0x[0-9a-f]+): Compile Unit: .*?version = (0x[0-9a-f]+), .*?"
                                      r"abbr_offset = (0x[0-9a-f]+), addr_size = (0x[0-9a-f]+)", text, re.M)]
    die_lines = re.findall(r"^(0x[0-9a-f]+):\s+(DW_TAG_\w+)", text, re.M)
    want_subs = {int(off, 16) for off, tag in die_lines if tag in ("DW_TAG_subprogram", "DW_TAG_inlined_subroutine")}
    stats = ScanStats()
    units = list(scan_units(_sections(binary), stats=stats))
    assert [(u.unit.offset, u.unit.version, u.unit.abbrev_offset, u.unit.address_size) for u in units] == want_units
    assert stats.dies == len(die_lines)
    assert {s.die_offset for u in units for s in u.subroutines} == want_subs
    assert compile_units(_sections(binary)) == [u.unit for u in units]  # the cheap path agrees
    (second,) = scan_units(_sections(binary), offsets=[units[-1].unit.offset])
    assert second.unit == units[-1].unit and second.subroutines == units[-1].subroutines
    names = re.findall(r"DW_TAG_compile_unit\n(?:\s+DW_AT_\w+\t.*\n)*?\s+DW_AT_name\t\(\"([^\"]*)\"\)", text)
    assert [u.unit.name for u in units if u.unit.tag == DW_TAG.compile_unit] == names
    partial = len(re.findall(r"^0x[0-9a-f]+:\s+DW_TAG_partial_unit", text, re.M))
    assert sum(u.unit.tag == DW_TAG.partial_unit for u in units) == partial


@pytest.mark.parametrize("variant", ["nested-dwarf4", "methods-dwarf4", "methods-dwarf5", "lto", "hand-dwarf5"])
def test_die_ranges_match_llvm_dwarfdump(programs, variant):
    """Every DW_AT_ranges / low_pc+high_pc DIE: our absolute ranges equal the ones llvm-dwarfdump prints."""
    binary = programs[variant]
    text = _dwarfdump_info(binary)
    verbose = {int(b[:b.index(":")], 16): b for b in re.split(r"\n(?=0x[0-9a-f]+:\s+DW_TAG)",
                                                              _dwarfdump_info(binary, "-v"))
               if b.startswith("0x")}
    sections = _sections(binary)
    headers = list(iter_unit_headers(sections.info))
    resolver = DieResolver(sections, headers)
    checked = 0
    for block in re.split(r"\n(?=0x[0-9a-f]+:\s+DW_TAG)", text):
        m = re.match(r"(0x[0-9a-f]+):\s+DW_TAG_(\w+)", block)
        if not m or ("DW_AT_ranges" not in block and "DW_AT_high_pc" not in block):
            continue
        if "DW_AT_ranges" in block:
            body = block.split("DW_AT_ranges", 1)[1].split("))", 1)[0] + ")"
            want = [(int(a, 16), int(b, 16)) for a, b in re.findall(r"\[(0x[0-9a-f]+), (0x[0-9a-f]+)\)", body)]
        else:
            low, high = _low_high(verbose[int(m[1], 16)])
            if high is None:
                continue
            want = [(low, high)]
        offset = int(m[1], 16)
        header = next(h for h in headers if h.offset <= offset < h.end)
        ctx = resolver.context(header)
        code, pos = read_uleb(sections.info, offset)
        attrs, _ = decode_fields(sections.info, pos, ctx.abbrev(code, offset)[6], ctx.enc)
        assert ctx.die_ranges(attrs) == want, hex(offset)
        checked += 1
    assert checked >= 5


def test_skipping_type_subtrees_changes_nothing(programs):
    """skip_types only jumps over subtrees without code: same subroutines with ranges, same maps."""
    for variant in ("methods-dwarf4", "methods-dwarf5"):
        sections = _sections(programs[variant])
        full_stats = ScanStats()
        full = list(scan_units(sections, stats=full_stats))
        fast_stats = ScanStats()
        fast = list(scan_units(sections, stats=fast_stats, skip_types=True))
        for a, b in zip(full, fast, strict=True):
            assert (list(a.starts), list(a.ends)) == (list(b.starts), list(b.ends))
            assert [a.subroutines[i].die_offset for i in a.which] == [b.subroutines[i].die_offset for i in b.which]
        assert fast_stats.dies < full_stats.dies  # it did skip something


# ---- corrupt input ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_sections(programs) -> DwarfSections:
    return _sections(programs["methods-dwarf5"])


def _scan_all(sections: DwarfSections) -> ScanStats:
    stats = ScanStats()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for unit in scan_units(sections, stats=stats):
            for address in unit.starts[:50]:
                unit.chain(address)
        unit_address_ranges(sections, [])
    return stats


def _mutate(data: bytes, flips: list[tuple[int, int]], cut: int | None) -> bytes:
    buf = bytearray(data)
    for where, value in flips:
        buf[where % len(buf)] = value
    if cut is not None:
        buf = buf[: cut % (len(buf) + 1)]
    return bytes(buf)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["info", "abbrev", "rnglists", "str", "aranges"]),
       st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=6),
       st.one_of(st.none(), st.integers(0, 1 << 20)))
def test_corrupt_sections_only_warn_or_format_error(small_sections, name, flips, cut):
    fields = {k: getattr(small_sections, k) for k in DwarfSections.__slots__}
    fields[name] = _mutate(fields[name], flips, cut)
    try:
        _scan_all(DwarfSections(**fields))
    except FormatError:
        pass


def test_truncated_info_skips_the_unit_with_a_warning(small_sections):
    fields = {k: getattr(small_sections, k) for k in DwarfSections.__slots__}
    fields["info"] = fields["info"][: len(fields["info"]) // 2]
    with pytest.warns(UserWarning, match=r"skipping DWARF unit: .*\+0x0: "):
        stats = ScanStats()
        units = list(scan_units(DwarfSections(**fields), stats=stats))
    assert units == [] and len(stats.problems) == 1
