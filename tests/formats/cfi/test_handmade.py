"""Hand-assembled CFI (every DW_CFA opcode, CIE versions 1/3/4, 32- and 64-bit DWARF, zR/zPLR/zRS):
`unwind dump-cfi` must print exactly what `readelf --debug-dump=frames-interp` prints for the object."""

from __future__ import annotations

import io
import struct
from contextlib import redirect_stdout

import sys
from pathlib import Path

# tests/conftest.py puts tests/ and tests/unwind on sys.path ahead of the repository, so `unwind`,
# `formats.cfi` and `unwind.cli` can resolve to the namespace folders of the tests; put the real
# packages first and drop namespace stand-ins (real modules keep their identity).
_ROOT = str(Path(__file__).resolve().parents[3])
if sys.path[0] != _ROOT:
    sys.path.insert(0, _ROOT)
for _name in [n for n, m in list(sys.modules.items())
              if n.split(".")[0] in ("unwind", "formats") and getattr(m, "__file__", None) is None]:
    del sys.modules[_name]
sys.path.insert(1, str(Path(__file__).parent))
from cfi_builder import assemble, cie, fde, sleb, uleb  # noqa: E402

from conftest import need_tool, run_tool  # noqa: E402
from unwind.cli import main  # noqa: E402

# One FDE body using every opcode; a comment per instruction.
EVERY_OPCODE = b"".join([
    b"\x41",                              # advance_loc 1
    b"\x0e" + uleb(16),                   # def_cfa_offset 16
    b"\x86\x02",                          # offset r6 (rbp) at cfa-16
    b"\x02\x03",                          # advance_loc1 3
    b"\x0d\x06",                          # def_cfa_register r6
    b"\x03\x10\x00",                      # advance_loc2 16
    b"\x05\x03\x03",                      # offset_extended r3 at cfa-24
    b"\x11\x0c" + sleb(4),                # offset_extended_sf r12 at cfa-32
    b"\x14\x0d\x04",                      # val_offset r13 = cfa-32
    b"\x15\x0e" + sleb(-2),               # val_offset_sf r14 = cfa+16
    b"\x09\x0f\x01",                      # register r15 in r1 (rdx)
    b"\x04\x20\x00\x00\x00",              # advance_loc4 32
    b"\x0a",                              # remember_state
    b"\x07\x0c",                          # undefined r12
    b"\x08\x0d",                          # same_value r13
    b"\xc6",                              # restore r6
    b"\x06\x03",                          # restore_extended r3
    b"\x42",                              # advance_loc 2
    b"\x0b",                              # restore_state
    b"\x10\x0e\x02\x77\x10",              # expression r14: DW_OP_breg7 16
    b"\x16\x0f\x02\x77\x08",              # val_expression r15: DW_OP_breg7 8
    b"\x2e\x10",                          # GNU_args_size 16
    b"\x2f\x03\x02",                      # GNU_negative_offset_extended r3 at cfa+16
    b"\x1d" + struct.pack("<Q", 1),       # MIPS_advance_loc8 1
    b"\x12\x07" + sleb(-2),               # def_cfa_sf rsp, 16
    b"\x13" + sleb(-3),                   # def_cfa_offset_sf 24
    b"\x41",                              # advance_loc 1
    b"\x0f\x03\x77\x08\x06",              # def_cfa_expression DW_OP_breg7 8; DW_OP_deref
    b"\x01" + struct.pack("<Q", 0x1080),  # set_loc 0x1080
    b"\x0c\x07\x08",                      # def_cfa rsp+8
    b"\x0b",                              # restore_state with nothing remembered
    b"\x91\x03",                          # offset r17 (xmm0) at cfa-24
    b"\x00\x00",                          # nop nop
])
CIE_INIT = b"\x0c\x07\x08" + b"\x90\x01"  # def_cfa rsp+8; offset r16 (rip) at cfa-8


def dump(path: Path) -> list[str]:
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["dump-cfi", str(path)]) == 0
    return out.getvalue().splitlines()


def readelf(path: Path) -> list[str]:
    return run_tool(need_tool("readelf"), "--debug-dump=frames-interp", str(path)).splitlines()


def debug_frame(version: int = 1, dwarf64: bool = False) -> bytes:
    c = cie(CIE_INIT, version=version, dwarf64=dwarf64)
    ptr = 0
    out = c
    out += fde(ptr, 0x1000, 0x100, EVERY_OPCODE, dwarf64=dwarf64)
    out += fde(ptr, 0x1100, 0x10, b"\x00\x00\x00", dwarf64=dwarf64)  # only nops: no table
    out += fde(ptr, 0x1110, 0x10, b"", dwarf64=dwarf64)  # nothing at all
    out += fde(ptr, 0x1120, 0x20, b"\x44\x0e\x10\x9c\x02", dwarf64=dwarf64)  # advance 4; cfa+16; r28 saved
    return out


def test_every_opcode_debug_frame_v1(tmp_path):
    obj = assemble(tmp_path, {".debug_frame": debug_frame(1)})
    assert dump(obj) == readelf(obj)


def test_cie_versions_3_and_4(tmp_path):
    for version in (3, 4):
        obj = assemble(tmp_path, {".debug_frame": debug_frame(version)}, f"v{version}")
        assert dump(obj) == readelf(obj)


def test_dwarf64_debug_frame(tmp_path):
    obj = assemble(tmp_path, {".debug_frame": debug_frame(1, dwarf64=True)})
    lines = dump(obj)
    assert lines == readelf(obj)
    assert any("ffffffffffffffff CIE" in line for line in lines)


def test_eh_frame_augmentations(tmp_path):
    # CIE "zR", FDE pointers udata4 (encoding 0x03)
    data = cie(CIE_INIT, augmentation="zR", aug_data=b"\x03", eh=True)
    at = len(data)
    data += fde(at + 4, 0x2000, 0x40, b"\x41\x0e\x10\x86\x02", aug=True, pointer="<I")
    # CIE "zPLR": personality udata4 0x4000, LSDA udata4, FDE udata4
    zplr_at = len(data)
    data += cie(CIE_INIT, augmentation="zPLR", aug_data=b"\x03" + struct.pack("<I", 0x4000) + b"\x03\x03", eh=True)
    fde_at = len(data)
    data += fde(fde_at + 4 - zplr_at, 0x2040, 0x20, b"\x44\x0e\x20", aug=True,
                aug_data=struct.pack("<I", 0x5000), pointer="<I")
    # CIE "zRS": a signal frame
    zrs_at = len(data)
    data += cie(CIE_INIT, augmentation="zRS", aug_data=b"\x03", eh=True)
    fde_at = len(data)
    data += fde(fde_at + 4 - zrs_at, 0x2060, 0x10, b"\x0f\x03\x77\xa0\x01", aug=True, pointer="<I")
    data += b"\0\0\0\0"  # terminator
    obj = assemble(tmp_path, {".eh_frame": data})
    assert dump(obj) == readelf(obj)
    from formats.cfi.parse import CfiSection
    from formats.elf import ElfFile

    entries = list(CfiSection.from_elf(ElfFile(obj), ".eh_frame"))
    assert entries[2].personality == 0x4000 and entries[3].lsda == 0x5000
    assert entries[4].signal_frame and not entries[0].signal_frame


def test_compiled_objects_with_relocations(tmp_path):
    """gcc output: .eh_frame (R_X86_64_PC32) and .debug_frame (R_X86_64_64) need readelf's relocation."""
    source = tmp_path / "f.c"
    source.write_text("int g(int);\nint f(int x) { return g(x) * 3 + g(x + 1); }\n"
                      "int h(int *p, int n) { int s = 0; for (int i = 0; i < n; i++) s += g(p[i]); return s; }\n")
    for flags in (["-O2"], ["-O2", "-fno-asynchronous-unwind-tables", "-g"], ["-O0"]):
        obj = tmp_path / "f.o"
        run_tool(need_tool("gcc"), *flags, "-c", str(source), "-o", str(obj))
        assert dump(obj) == readelf(obj)
