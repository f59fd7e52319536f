"""ELF64 RELA relocation records (.rela.*) as typed records."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .elf import ElfFile, Section, SectionType
from .errors import FormatError

_RELA = struct.Struct("<QQq")
RELA_SIZE = _RELA.size


@dataclass(frozen=True, slots=True)
class Relocation:
    offset: int  # r_offset: where it applies
    type: int  # R_X86_64_*
    symbol: int  # index into the linked symbol table
    addend: int

    @classmethod
    def from_bytes(cls, raw: bytes | memoryview, pos: int = 0) -> "Relocation":
        r_offset, r_info, addend = _RELA.unpack_from(raw, pos)
        return cls(r_offset, r_info & 0xFFFFFFFF, r_info >> 32, addend)

    def to_bytes(self) -> bytes:
        return _RELA.pack(self.offset, (self.symbol << 32) | self.type, self.addend)


def read_relocations(elf: ElfFile, section: Section) -> list[Relocation]:
    """Every record of one SHT_RELA section, in table order."""
    if section.type != SectionType.RELA:
        raise FormatError(f"{section.name} is not a RELA section", elf.path, section.offset)
    raw = elf.section_bytes(section) or b""
    if len(raw) % _RELA.size:
        raise FormatError(f"{section.name} size {len(raw)} is not a multiple of {_RELA.size}", elf.path,
                          section.offset)
    return [Relocation.from_bytes(raw, pos) for pos in range(0, len(raw), _RELA.size)]
