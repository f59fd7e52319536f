"""ELF symbol tables (.symtab, .dynsym) as typed records."""

# Annotations are evaluated at import (no `from __future__ import annotations`): typing compiles the
# string annotation of every NamedTuple field, ~0.5 M instructions each (NOTES.md, issue 16).

import struct
from enum import IntEnum
from typing import NamedTuple

from .elf import ElfFile, Section, SectionType
from .errors import FormatError

_SYM = struct.Struct("<IBBHQQ")
_SYM32 = struct.Struct("<IIIBBH")  # name, value, size, info, other, shndx
SHN_UNDEF = 0
SHN_LORESERVE = 0xFF00
SHN_ABS = 0xFFF1
SHN_COMMON = 0xFFF2
SHN_XINDEX = 0xFFFF


class SymbolType(IntEnum):
    NOTYPE = 0
    OBJECT = 1
    FUNC = 2
    SECTION = 3
    FILE = 4
    COMMON = 5
    TLS = 6
    GNU_IFUNC = 10


class SymbolBind(IntEnum):
    LOCAL = 0
    GLOBAL = 1
    WEAK = 2
    GNU_UNIQUE = 10


class Symbol(NamedTuple):  # a NamedTuple: no dataclass machinery (inspect, ~7 ms) imported on a warm run
    index: int  # type: ignore[assignment]  # shadows tuple.index on purpose: the ELF symbol index
    name: str
    value: int
    size: int
    type: int
    bind: int
    shndx: int

    @property
    def is_defined_in_section(self) -> bool:
        """Defined relative to a real section (not undefined, absolute or common)."""
        return self.shndx != SHN_UNDEF and self.shndx < SHN_LORESERVE or self.shndx == SHN_XINDEX


def read_symbols(elf: ElfFile, table: str = ".symtab") -> list[Symbol]:
    """Every symbol of `table` (".symtab" or ".dynsym") in table order; [] if the table is absent."""
    section = elf.section(table)
    if section is None or section.type not in (SectionType.SYMTAB, SectionType.DYNSYM):
        return []
    return symbols_in(elf, section)


def symbols_in(elf: ElfFile, section: Section) -> list[Symbol]:
    """Every symbol of one SYMTAB/DYNSYM section (e.g. the one a relocation section links to)."""
    entry = _SYM if elf.is_64 else _SYM32
    if section.entsize not in (0, entry.size):
        raise FormatError(f"{section.name} has entry size {section.entsize}", elf.path, section.offset)
    if section.link >= len(elf.sections):
        raise FormatError(f"{section.name} links to missing string table {section.link}", elf.path, section.offset)
    raw = elf.raw_section_bytes(section)
    strtab = elf.raw_section_bytes(elf.sections[section.link]).tobytes()
    usable = len(raw) - len(raw) % entry.size
    rows = entry.iter_unpack(raw[:usable])
    if not elf.is_64:
        rows = ((name_off, info, other, shndx, value, size) for name_off, value, size, info, other, shndx in rows)
    symbols = []
    for index, (name_off, info, _other, shndx, value, size) in enumerate(rows):
        end = strtab.find(b"\0", name_off)
        stop = end if end >= 0 else len(strtab)
        name = strtab[name_off:stop].decode("utf-8", "replace") if name_off < len(strtab) else ""
        symbols.append(Symbol(index, name, value, size, info & 0xF, info >> 4, shndx))
    return symbols
