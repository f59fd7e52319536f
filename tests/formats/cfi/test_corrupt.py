"""Bad CFI: truncated entries, bad augmentation, unknown opcodes give typed FormatErrors; random and
mutated bytes never raise anything else and never hang."""

from __future__ import annotations

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

import struct

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import LIBC

from formats.cfi.describe import describe_section
from formats.cfi.hdr import EhFrameHdr
from formats.cfi.instructions import decode
from formats.cfi.parse import CfiSection, Cie, Fde
from formats.cfi.table import interpret, tables
from formats.elf import ElfFile
from formats.errors import FormatError, TruncatedError

# CIE: length 0x14, id 0, version 1, "zR", code 1, data -8, ra 16, aug len 1, enc 0x1b,
#      def_cfa rsp+8, offset r16 cfa-8, nop
CIE = bytes.fromhex("14000000" "00000000" "01" "7a5200" "01" "78" "10" "01" "1b" "0c0708" "9001" "0000")
# FDE: length 0x14, CIE pointer 0x1c, pc_begin pcrel -0x20, range 0x10, aug len 0, advance 1, def_cfa_offset 16
FDE = bytes.fromhex("14000000" "1c000000" "e0ffffff" "10000000" "00" "41" "0e10" "00000000")


def section(data: bytes, is_eh: bool = True) -> CfiSection:
    return CfiSection(data, 0x1000, is_eh=is_eh, path="test.o")


def test_hand_assembled_entries_parse():
    entries = list(section(CIE + FDE))
    assert isinstance(entries[0], Cie) and entries[0].augmentation == "zR" and entries[0].fde_encoding == 0x1B
    fde = entries[1]
    assert isinstance(fde, Fde) and fde.cie.offset == 0
    assert (fde.pc_begin, fde.pc_range) == (0x1000 + 0x20 - 0x20, 0x10)  # pc-relative to the field at 0x20
    rows = interpret(section(CIE + FDE), fde).rows
    assert [(r.loc, r.cfa_reg, r.cfa_offset) for r in rows] == [(0x1000, 7, 8), (0x1001, 7, 16)]


@pytest.mark.parametrize("cut", [2, 6, 12, 20])
def test_truncated_cie(cut):
    with pytest.raises(TruncatedError) as info:
        list(section(CIE[:cut]))
    assert info.value.offset == 0 and "test.o" in str(info.value)


def test_truncated_fde_and_length_past_end():
    data = CIE + FDE[:-8]
    with pytest.raises(TruncatedError) as info:
        list(section(data))
    assert info.value.offset == len(CIE)


def test_bad_augmentation_and_version():
    bad_aug = CIE[:9] + b"Q" + CIE[10:]  # "QR": not z-prefixed, unknown
    with pytest.raises(FormatError, match="augmentation"):
        list(section(bad_aug))
    bad_version = CIE[:8] + b"\x09" + CIE[9:]
    with pytest.raises(FormatError, match="version"):
        list(section(bad_version))


def test_unknown_opcode_names_offset():
    fde = FDE[:17] + b"\x3f" + FDE[18:]  # 0x3f is not a DW_CFA opcode
    sec = section(CIE + fde)
    entry = list(sec)[1]
    with pytest.raises(FormatError, match="unknown call frame instruction") as info:
        interpret(sec, entry)
    assert info.value.offset == len(CIE) + 17
    with pytest.raises(FormatError):
        decode(b"\x0c\x07")  # def_cfa with a missing operand
    assert decode(b"\x0c\x07\x08")[0].value == 8


def test_hdr_rejects_bad_version_and_truncation():
    with pytest.raises(FormatError):
        EhFrameHdr.from_bytes(b"\x02\x1b\x03\x3b" + bytes(8), 0x1000)
    with pytest.raises(TruncatedError):
        EhFrameHdr.from_bytes(b"\x01\x1b\x03\x3b" + struct.pack("<iI", 0, 100) + bytes(16), 0x1000)


def test_hdr_other_encodings():
    # version 1; eh_frame_ptr udata4; count udata4; table udata8 (absolute pairs)
    head = bytes([1, 0x03, 0x03, 0x04]) + struct.pack("<II", 0x2000, 2)
    table = struct.pack("<QQQQ", 0x100, 0x2010, 0x200, 0x2030)  # (location, FDE address) pairs
    hdr = EhFrameHdr.from_bytes(head + table, 0x1000)
    assert hdr.eh_frame_ptr == 0x2000 and hdr.locations == (0x100, 0x200)
    assert (hdr.lookup(0x50), hdr.lookup(0x150), hdr.lookup(0x250)) == (None, 0x2010, 0x2030)
    unsorted = struct.pack("<QQQQ", 0x200, 0x2010, 0x100, 0x2030)
    with pytest.raises(FormatError, match="not sorted"):
        EhFrameHdr.from_bytes(head + unsorted, 0x1000)
    with pytest.raises(FormatError, match="encoding"):
        EhFrameHdr.from_bytes(bytes([1, 0x03, 0x07, 0x04]) + bytes(16), 0x1000)  # 0x07: no such format


def test_hdr_lookup_matches_fdes_of_libc():
    elf = ElfFile(LIBC)
    hdr_sec = elf.section(".eh_frame_hdr")
    hdr = EhFrameHdr.from_bytes(elf.section_bytes(hdr_sec), hdr_sec.addr, elf.path)
    eh = CfiSection.from_elf(elf, ".eh_frame")
    fdes = {f.pc_begin: f for f in eh.fdes}
    assert len(hdr.locations) == len(fdes)
    for loc, fde_addr in list(zip(hdr.locations, hdr.fdes))[::97]:
        assert fdes[loc].offset == fde_addr - eh.address
        assert hdr.lookup(loc + 1) == fde_addr


def _exhaust(sec: CfiSection) -> None:
    for _entry, result in tables(sec):
        if isinstance(result, Exception):
            assert isinstance(result, FormatError)
    "".join(describe_section(sec))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200), st.booleans())
def test_random_bytes_only_format_errors(data, is_eh):
    try:
        _exhaust(section(data, is_eh))
    except FormatError:
        pass
    try:
        EhFrameHdr.from_bytes(data, 0x1000)
    except FormatError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(CIE + FDE) - 1), st.integers(0, 255)), min_size=1, max_size=6))
def test_mutated_entries_only_format_errors(flips):
    data = bytearray(CIE + FDE + FDE.replace(b"\x1c\x00", b"\x34\x00", 1))
    for at, value in flips:
        data[at] = value
    try:
        _exhaust(section(bytes(data)))
    except FormatError:
        pass


_LIBC_EH = None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4095), st.integers(0, 255)), min_size=1, max_size=8))
def test_mutated_libc_eh_frame_compiles_or_fails_typed(flips):
    global _LIBC_EH
    if _LIBC_EH is None:
        elf = ElfFile(LIBC)
        sec = elf.section(".eh_frame")
        _LIBC_EH = (elf.section_bytes(sec)[:4096], sec.addr)
    data = bytearray(_LIBC_EH[0])
    for at, value in flips:
        data[at] = value
    sec = CfiSection(bytes(data), _LIBC_EH[1], path="libc-mutated")
    try:
        _exhaust(sec)
    except FormatError:
        pass
