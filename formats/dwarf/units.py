"""The DWARF sections a DIE scan reads, and the unit headers that split .debug_info into units."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

from ..errors import FormatError, TruncatedError
from .constants import DW_UT
from .forms import UnitEncoding

if TYPE_CHECKING:
    from ..elf import ElfFile



@dataclass(frozen=True, slots=True)
class DwarfSections:
    """Bytes of the sections the DIE scanner reads (empty when the file lacks one)."""

    info: bytes = b""
    abbrev: bytes = b""
    str: bytes = b""
    line_str: bytes = b""
    str_offsets: bytes = b""
    addr: bytes = b""
    ranges: bytes = b""
    rnglists: bytes = b""
    aranges: bytes = b""
    path: builtins.str | None = None  # `str` is the .debug_str field above
    alt: DwarfSections | None = None  # the dwz alternate / DWARF 5 supplementary file's sections

    @classmethod
    def from_elf(cls, elf: ElfFile) -> DwarfSections:
        """Collect the sections from a formats.elf.ElfFile (decompressed, and relocated in ET_REL files)."""
        from ..relocations import debug_section_bytes  # relocated in .o/.ko files

        def get(name: builtins.str) -> bytes:
            return debug_section_bytes(elf, ".debug_" + name) or b""

        return cls(info=get("info"), abbrev=get("abbrev"), str=get("str"), line_str=get("line_str"),
                   str_offsets=get("str_offsets"), addr=get("addr"), ranges=get("ranges"), rnglists=get("rnglists"),
                   aranges=get("aranges"), path=elf.path)


@dataclass(frozen=True, slots=True)
class UnitHeader:
    """One unit header of .debug_info: where the unit is, where its DIEs start, how it is encoded."""

    offset: int
    end: int  # offset of the next unit
    die_offset: int  # first DIE
    version: int
    unit_type: int
    address_size: int
    offset_size: int
    abbrev_offset: int
    dwo_id: int | None = None  # DWARF 5 skeleton and split units: the id that pairs them

    @property
    def encoding(self) -> UnitEncoding:
        return UnitEncoding(self.version, self.address_size, self.offset_size)


def parse_unit_header(data: bytes, offset: int, path: str | None = None) -> UnitHeader:
    """Decode the unit header at `offset`; FormatError when it is malformed or runs past the section."""
    size = len(data)
    if offset + 4 > size:
        raise TruncatedError("unit header runs past the end of .debug_info", path, offset)
    length = int.from_bytes(data[offset:offset + 4], "little")
    pos = offset + 4
    offset_size = 4
    if length == 0xFFFFFFFF:
        if pos + 8 > size:
            raise TruncatedError("64-bit unit length runs past the end of .debug_info", path, offset)
        length = int.from_bytes(data[pos:pos + 8], "little")
        pos += 8
        offset_size = 8
    elif length >= 0xFFFFFFF0:
        raise FormatError(f"reserved unit length {length:#x}", path, offset)
    end = pos + length
    if end > size:
        raise TruncatedError(f"unit length {length:#x} runs past the end of .debug_info", path, offset)
    if pos + 2 > end:
        raise TruncatedError("unit header is cut short", path, offset)
    version = int.from_bytes(data[pos:pos + 2], "little")
    pos += 2
    if not 2 <= version <= 5:
        raise FormatError(f"unsupported DWARF version {version}", path, offset)
    dwo_id = None
    if version >= 5:
        need = 2 + offset_size
        if pos + need > end:
            raise TruncatedError("unit header is cut short", path, offset)
        unit_type, address_size = data[pos], data[pos + 1]
        abbrev_offset = int.from_bytes(data[pos + 2:pos + 2 + offset_size], "little")
        pos += need
        if unit_type in (DW_UT.type, DW_UT.split_type):
            pos += 8 + offset_size
        elif unit_type in (DW_UT.skeleton, DW_UT.split_compile):
            dwo_id = int.from_bytes(data[pos:pos + 8], "little")
            pos += 8
        elif unit_type not in (DW_UT.compile, DW_UT.partial):
            raise FormatError(f"unknown unit type {unit_type:#x}", path, offset)
    else:
        if pos + offset_size + 1 > end:
            raise TruncatedError("unit header is cut short", path, offset)
        abbrev_offset = int.from_bytes(data[pos:pos + offset_size], "little")
        address_size = data[pos + offset_size]
        pos += offset_size + 1
        unit_type = DW_UT.compile
    if address_size not in (4, 8):
        raise FormatError(f"unsupported address size {address_size}", path, offset)
    if pos > end:
        raise TruncatedError("unit header is cut short", path, offset)
    return UnitHeader(offset, end, pos, version, unit_type, address_size, offset_size, abbrev_offset, dwo_id)


def iter_unit_headers(data: bytes, path: str | None = None,
                      problems: list[FormatError] | None = None) -> Iterator[UnitHeader]:
    """Every unit header in .debug_info; a header that cannot be read ends the walk (recorded in `problems`)."""
    offset = 0
    while offset < len(data):
        try:
            header = parse_unit_header(data, offset, path)
        except FormatError as exc:
            if problems is None:
                raise
            problems.append(exc)
            end = _unit_end(data, offset)
            if end is None:
                return
            offset = end  # the length was sound: resync at the next unit
            continue
        yield header
        offset = header.end


def _unit_end(data: bytes, offset: int) -> int | None:
    """End of the unit at `offset` from its length field alone, or None when that is unusable too."""
    if offset + 4 > len(data):
        return None
    length = int.from_bytes(data[offset:offset + 4], "little")
    if length == 0xFFFFFFFF:
        if offset + 12 > len(data):
            return None
        end = offset + 12 + int.from_bytes(data[offset + 4:offset + 12], "little")
    elif length >= 0xFFFFFFF0:
        return None
    else:
        end = offset + 4 + length
    return end if end <= len(data) else None
