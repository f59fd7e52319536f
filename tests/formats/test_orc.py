"""formats.orc against the real objtool (Debian linux-kbuild 6.1 and 6.12), readelf and nm, plus corrupt input."""

from __future__ import annotations

import re
import shutil
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from formats.elf import ElfFile
from formats.errors import FormatError, UnwindError
from formats.orc import (KNOWN_HEADERS, OrcEntry, OrcLayout, OrcReg, OrcType, describe_entry, describe_table,
                         header_hash, is_terminator, layout_for_version, make_entry, read_orc)
from conftest import need_tool, run_tool, orc_fixtures



fx = orc_fixtures()


def objtool(version: str) -> str:
    tool = fx.objtool(version)
    if tool is None:
        pytest.fail(f"objtool {version} is not installed (run bash .ci/setup)")
    return tool


def objtool_dump(version: str, path) -> list[str]:
    return run_tool(objtool(version), "--dump=orc", str(path)).splitlines()


@pytest.fixture(scope="module")
def user(tmp_path_factory):
    out = tmp_path_factory.mktemp("orc-user")
    return {v: fx.user_objects(v, out) for v in ("6.1", "6.12")}


# ---- real files against objtool ------------------------------------------------------------------

@pytest.mark.parametrize("index", range(3))
def test_61_modules_equal_objtool(index):
    path = fx.kernel_modules("6.1")[index]
    table = read_orc(ElfFile(path))
    expected = objtool_dump("6.1", path)
    assert len(expected) > 100
    assert (table.layout, table.layout_source, table.header) == (OrcLayout.V6_1, "guess", None)
    assert list(describe_table(table)) == expected


@pytest.mark.parametrize("index", range(2))
def test_612_modules_equal_objtool(index):
    path = fx.kernel_modules("6.12")[index]
    table = read_orc(ElfFile(path))
    expected = objtool_dump("6.12", path)
    assert len(expected) > 100
    assert (table.layout, table.layout_source) == (OrcLayout.V6_4, "header")
    assert list(describe_table(table)) == expected
    # Read with the old layout the same bytes print differently: the layout really is decided.
    assert list(describe_table(read_orc(ElfFile(path), OrcLayout.V6_1))) != expected


def test_orc_header_is_the_hash_of_orc_types_h():
    """.orc_header of a 6.12 module == sha1 of the orc_types.h shipped in the same kernel's headers package."""
    module = ElfFile(fx.kernel_modules("6.12")[0])
    header = module.section_bytes(".orc_header")
    assert header_hash(fx.orc_types_h("6.12").read_text()) == header
    assert header in KNOWN_HEADERS
    assert header_hash(fx.orc_types_h("6.1").read_text()) != header


@pytest.mark.parametrize("version", ["6.1", "6.12"])
@pytest.mark.parametrize("kind", ["o", "exe"])
def test_user_objects_equal_objtool(user, version, kind):
    path = user[version][kind]
    table = read_orc(ElfFile(path))
    expected = objtool_dump(version, path)
    assert len(expected) > 20
    assert table.layout == layout_for_version(version) and table.layout_source == "guess"
    assert table.relocatable == (kind == "o")
    assert list(describe_table(table)) == expected


@pytest.mark.parametrize("version", ["6.1", "6.12"])
def test_explicit_layout_equals_the_other_objtool(user, version):
    """objtool prints any file in its own layout; --orc-version must read it the same way."""
    other = "6.12" if version == "6.1" else "6.1"
    path = user[version]["o"]
    table = read_orc(ElfFile(path), layout_for_version(other))
    assert list(describe_table(table)) == objtool_dump(other, path)


_RELA_LINE = re.compile(r"^([0-9a-f]+)\s+[0-9a-f]+\s+(R_X86_64_\w+)\s+[0-9a-f]+\s+(\S+) ([+-]) ([0-9a-f]+)$")


def test_relocations_equal_readelf(user):
    need_tool("readelf")
    path = user["6.1"]["o"]
    text = run_tool("readelf", "-rW", str(path))
    block = text.split("'.rela.orc_unwind_ip'")[1].split("\n\n")[0]
    expected = {}
    for line in block.splitlines():
        m = _RELA_LINE.match(line.strip())
        if m:
            assert m[2] == "R_X86_64_PC32"
            expected[int(m[1], 16) // 4] = (m[3], int(m[5], 16) * (-1 if m[4] == "-" else 1))
    table = read_orc(ElfFile(path))
    assert len(expected) == len(table.rows) > 20
    assert {i: (row.symbol, row.addend) for i, row in enumerate(table.rows)} == expected
    elf = ElfFile(path)
    assert all(elf.sections[row.section].name == row.symbol for row in table.rows)


def test_linked_table_is_unsorted_and_index_finds_every_function(user):
    need_tool("nm")
    path = user["6.12"]["exe"]
    table = read_orc(ElfFile(path))
    addresses = [row.address for row in table.rows]
    assert addresses != sorted(addresses)  # main (.text.startup) is linked before .text but listed after it
    index = table.index()
    functions = {}
    for line in run_tool("nm", str(path)).splitlines():
        value, kind, name = line.split()[-3:] if len(line.split()) == 3 else (None, None, None)
        if kind == "T" and name in ("leaf", "with_buffer", "with_alloca", "realigned", "recurse", "main"):
            functions[name] = int(value, 16)
    assert len(functions) == 6
    for name, start in functions.items():
        found_start, entry = index.find(start)
        # At a function's first instruction the return address is on top: sp:sp+8, type call.
        assert found_start == start, name
        assert (entry.kind, entry.sp_reg, entry.sp_offset) == (OrcType.CALL, OrcReg.SP, 8), name
        assert index.find(start + 1)[0] <= start + 1
    assert index.find(min(addresses) - 1) is None


# ---- hand-assembled entries ----------------------------------------------------------------------

def test_entry_bits_in_each_layout():
    raw = bytes([
        0x10, 0x00,  # sp_offset = 16
        0xF0, 0xFF,  # bp_offset = -16
        0x15,        # sp_reg = 5 (SP), bp_reg = 1 (PREV_SP)
        0x0A,        # bits 8-15: 0b1010 -> see each layout below
    ])
    new = OrcEntry.from_bytes(raw, 0, OrcLayout.V6_4)  # type:3 = 2 (CALL), signal (bit 11) = 1
    assert (new.sp_offset, new.bp_offset, new.sp_reg, new.bp_reg) == (16, -16, OrcReg.SP, OrcReg.PREV_SP)
    assert (new.kind, new.signal, new.end) == (OrcType.CALL, True, False)
    assert describe_entry(new) == "type:call sp:sp+16 bp:prevsp-16 signal:1"
    old = OrcEntry.from_bytes(raw, 0, OrcLayout.V6_1)  # type:2 = 2 (REGS_PARTIAL), end (bit 10) = 0, bit 11 spare
    assert (old.kind, old.end, old.spare) == (OrcType.REGS_PARTIAL, False, 1)
    assert describe_entry(old) == " sp:sp+16 bp:prevsp-16 type:regs (partial) end:0"
    mid = OrcEntry.from_bytes(raw, 0, OrcLayout.V6_3)  # type:2 = 2, signal (bit 10) = 0, end (bit 11) = 1
    assert (mid.kind, mid.signal, mid.end) == (OrcType.REGS_PARTIAL, False, True)
    assert describe_entry(mid) == " sp:sp+16 bp:prevsp-16 type:regs (partial) signal:0 end:1"


def test_indirect_and_unknown_registers_print_like_objtool():
    assert describe_entry(make_entry(OrcType.CALL, OrcReg.BP_INDIRECT, -40, OrcReg.BP, 0)) == \
        "type:call sp:(bp-40) bp:bp+0 signal:0"
    assert describe_entry(make_entry(OrcType.REGS, OrcReg.SP_INDIRECT, 8)) == "type:regs sp:(sp)+8 bp:(und) signal:0"
    assert describe_entry(OrcEntry(0, 0, 12, 0, 7, layout=OrcLayout.V6_4)) == "type:? sp:?+0 bp:(und) signal:0"
    assert describe_entry(make_entry(OrcType.CALL, OrcReg.R10, 0, layout=OrcLayout.V6_1)) == \
        " sp:r10+0 bp:(und) type:call end:0"
    assert describe_entry(OrcEntry(0, 0, 0, 0, 1, layout=OrcLayout.V6_4)) == "type:end sp:(und) bp:(und) signal:0"


@pytest.mark.parametrize("text,layout", [("4.19", OrcLayout.V6_1), ("6.1", OrcLayout.V6_1), ("6.2.16", OrcLayout.V6_1),
                                         ("6.3", OrcLayout.V6_3), ("6.4", OrcLayout.V6_4), ("v6.12.117", OrcLayout.V6_4),
                                         ("<=6.2", OrcLayout.V6_1), (">=6.4", OrcLayout.V6_4)])
def test_layout_for_version(text, layout):
    assert layout_for_version(text) == layout


def test_layout_for_bad_version():
    with pytest.raises(FormatError, match="not a kernel version"):
        layout_for_version("new")


@given(st.binary(min_size=6, max_size=6), st.sampled_from(list(OrcLayout)))
def test_entry_round_trip(raw, layout):
    assert OrcEntry.from_bytes(raw, 0, layout).to_bytes() == raw


@given(st.sampled_from([OrcType.CALL, OrcType.REGS, OrcType.REGS_PARTIAL]), st.sampled_from(list(OrcLayout)),
       st.integers(-0x8000, 0x7FFF), st.sampled_from(list(OrcReg)))
def test_make_entry_keeps_its_kind(kind, layout, offset, reg):
    entry = make_entry(kind, reg, offset, layout=layout)
    again = OrcEntry.from_bytes(entry.to_bytes(), 0, layout)
    assert (again.kind, again.sp_reg, again.sp_offset) == (kind, reg, offset)


# ---- corrupt input -------------------------------------------------------------------------------

def _copy(tmp_path, path) -> Path:
    target = tmp_path / Path(path).name
    shutil.copy(path, target)
    return target


def _patch_section(path: Path, name: str, field: int, value: int) -> None:
    """Overwrite one 8-byte field of section `name`'s header (24 offset, 32 size)."""
    elf = ElfFile(path)
    index = elf.section(name).index
    data = bytearray(path.read_bytes())
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    struct.pack_into("<Q", data, shoff + index * 64 + field, value)
    path.write_bytes(data)


def _patch_bytes(path: Path, offset: int, raw: bytes) -> None:
    data = bytearray(path.read_bytes())
    data[offset:offset + len(raw)] = raw
    path.write_bytes(data)


def test_orc_unwind_size_not_a_multiple_of_six(tmp_path, user):
    path = _copy(tmp_path, user["6.1"]["o"])
    size = ElfFile(path).section(".orc_unwind").size
    _patch_section(path, ".orc_unwind", 32, size - 1)
    with pytest.raises(FormatError, match="not a multiple of 6") as info:
        read_orc(ElfFile(path))
    assert info.value.path == str(path) and info.value.offset is not None


def test_ip_and_entry_counts_differ(tmp_path, user):
    path = _copy(tmp_path, user["6.12"]["exe"])
    size = ElfFile(path).section(".orc_unwind_ip").size
    _patch_section(path, ".orc_unwind_ip", 32, size - 4)
    with pytest.raises(FormatError, match="orc_unwind_ip holds"):
        read_orc(ElfFile(path))


@pytest.mark.parametrize("field,value,message", [
    (8, (1 << 32) | 1, "relocation type 1"),         # r_info: R_X86_64_64 against symbol 1
    (8, (0xFFFFFF << 32) | 2, "past the end"),        # r_info: R_X86_64_PC32 against a symbol that is not there
    (0, 0x10000, "not a slot"),                      # r_offset far past .orc_unwind_ip
    (0, 4, "two relocations"),                       # the first relocation now targets slot 1 as well
])
def test_bad_relocations(tmp_path, user, field, value, message):
    path = _copy(tmp_path, user["6.1"]["o"])
    rela = ElfFile(path).section(".rela.orc_unwind_ip")
    _patch_bytes(path, rela.offset + field, struct.pack("<Q", value))
    with pytest.raises(FormatError, match=message) as info:
        read_orc(ElfFile(path))
    # the duplicate is found at the second relocation of the pair
    assert info.value.offset == rela.offset + (24 if message == "two relocations" else 0)


def test_missing_relocation(tmp_path, user):
    path = _copy(tmp_path, user["6.1"]["o"])
    rela = ElfFile(path).section(".rela.orc_unwind_ip")
    _patch_section(path, ".rela.orc_unwind_ip", 32, rela.size - 24)
    with pytest.raises(FormatError, match="have no relocation"):
        read_orc(ElfFile(path))


def test_file_without_orc():
    assert read_orc(ElfFile("/bin/true")) is None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_section_bytes_never_crash(tmp_path, user, data):
    """Random bytes over the ORC sections (and their relocations) give a table or a FormatError."""
    kind = data.draw(st.sampled_from(["o", "exe"]))
    source = Path(user[data.draw(st.sampled_from(["6.1", "6.12"]))][kind])
    path = tmp_path / f"fuzz-{kind}"
    shutil.copy(source, path)
    elf = ElfFile(path)
    names = [".orc_unwind", ".orc_unwind_ip"] + ([".rela.orc_unwind_ip"] if kind == "o" else [])
    section = elf.section(data.draw(st.sampled_from(names)))
    start = data.draw(st.integers(0, section.size - 1))
    raw = data.draw(st.binary(min_size=1, max_size=64))
    _patch_bytes(path, section.offset + start, raw[:section.size - start])
    try:
        table = read_orc(ElfFile(path), data.draw(st.sampled_from([None, *OrcLayout])))
    except FormatError:
        return
    assert len(list(describe_table(table))) == len(table.entries) == len(table.addresses)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(0, 5000), noise=st.binary(max_size=16), at=st.integers(0, 5000))
def test_truncated_and_noisy_files_raise_typed_errors(tmp_path, user, cut, noise, at):
    data = bytearray(Path(user["6.1"]["o"]).read_bytes())
    data[at:at + len(noise)] = noise
    path = tmp_path / "cut.o"
    path.write_bytes(bytes(data[:len(data) - cut]))
    try:
        table = read_orc(ElfFile(path))
        if table is not None:
            list(describe_table(table))
    except UnwindError:
        pass


# ---- the kernel proper ---------------------------------------------------------------------------

def vmlinux_with_symtab(version: str, tmp_path) -> Path:
    """objtool dumps nothing without a .symtab; vmlinux from a bzImage has none, so add one symbol."""
    need_tool("objcopy")
    copy = tmp_path / f"vmlinux-{version}"
    run_tool("objcopy", "--add-symbol", "orc_dump_anchor=.text:0", str(fx.vmlinux(version)), str(copy))
    return copy


@pytest.mark.slow
@pytest.mark.parametrize("version", ["6.1", "6.12"])
def test_vmlinux_equals_objtool(tmp_path, version):
    """Hundreds of thousands of linked rows, with entry code's regs, regs (partial), end and signal entries."""
    expected = objtool_dump(version, vmlinux_with_symtab(version, tmp_path))
    table = read_orc(ElfFile(fx.vmlinux(version)))
    lines = list(describe_table(table))
    assert len(expected) > 300_000
    first_difference = next((i for i, (a, b) in enumerate(zip(lines, expected)) if a != b), None)
    assert first_difference is None, (first_difference, lines[first_difference], expected[first_difference])
    assert len(lines) == len(expected)
    assert {OrcType.CALL, OrcType.REGS, OrcType.REGS_PARTIAL} <= {e.kind for e in table.entries}
    assert table.layout_source == ("header" if version == "6.12" else "guess")


def test_terminator_sorts_before_a_real_entry_at_the_same_address():
    """Where one object's end-of-code terminator meets the next object's first function (kernel orc_sort_cmp)."""
    from formats.orc import OrcTable

    real = make_entry(OrcType.CALL, OrcReg.SP, 8)
    terminator = make_entry(OrcType.UNDEFINED, OrcReg.UNDEFINED, 0)
    for addresses, entries in [((0x20, 0x10, 0x10), (real, real, terminator)),
                               ((0x20, 0x10, 0x10), (real, terminator, real))]:
        index = OrcTable(None, OrcLayout.V6_4, "explicit", None, addresses, entries).index()
        assert index.find(0x10) == (0x10, real)
        assert index.find(0x1F) == (0x10, real)
        assert index.find(0xF) is None


@pytest.mark.slow
def test_vmlinux_duplicate_addresses_resolve_to_real_entries():
    """The 6.1 kernel has ~2000 addresses with a terminator and a function entry; lookups find the function."""
    table = read_orc(ElfFile(fx.vmlinux("6.1")))
    seen, duplicates = set(), set()
    for address in table.addresses:
        (duplicates if address in seen else seen).add(address)
    assert len(duplicates) > 100
    index = table.index()
    # every duplicate pairs a terminator (sp:(und) end:0) with a function entry or an end:1 entry
    assert not any(is_terminator(index.find(a)[1]) for a in duplicates)
    assert sum(index.find(a)[1].sp_reg != OrcReg.UNDEFINED for a in duplicates) > 100
