"""ELF relocation records (.rela.* of ELF64; .rel.*/.rela.* of ELFCLASS32) and their application to DWARF."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from .elf import EM_386, EM_X86_64, ElfFile, Section, SectionType
from .errors import FormatError

_RELA = struct.Struct("<QQq")
RELA_SIZE = _RELA.size
_REL32 = struct.Struct("<II")  # i386: r_offset, r_info (symbol << 8 | type); the addend is in the bytes
_RELA32 = struct.Struct("<IIi")  # x32
EM_AARCH64 = 183


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


ET_REL = 1
# Relocation type -> (width in bytes, how the new value is made), S being the symbol's address, A the addend
# (for REL, the stored word) and P the place: "abs" S + A, "pcrel" S + A - P, "add"/"sub" the stored value
# plus/minus S + A, "set6"/"sub6" the low six bits of a byte set to S + A / reduced by it (RISC-V's
# label differences, LLVM's resolveRISCV).
# x86-64: the types LLVM's RelocationResolver resolves (NONE, 64, PC32, 32, 32S, DTPOFF64, DTPOFF32, PC64)
# plus PLT32, which readelf applies in frames.
X86_64_STATIC = {1: (8, "abs"), 2: (4, "pcrel"), 4: (4, "pcrel"), 10: (4, "abs"), 11: (4, "abs"), 17: (8, "abs"),
                 21: (4, "abs"), 24: (8, "pcrel")}
# LLVM 14's resolvers for the other machines whose objects we symbolise: x32 (R_X86_64_32, PC32),
# i386 (R_386_32, R_386_PC32: REL, the addend is the stored word), AArch64 (ABS64, ABS32, PREL64, PREL32),
# ARM (R_ARM_ABS32, R_ARM_REL32: REL), RISC-V (32, 64, 32_PCREL, ADD8..64, SUB8..64, SET6, SUB6).
X32_STATIC = {10: (4, "abs"), 2: (4, "pcrel")}
I386_STATIC = {1: (4, "abs"), 2: (4, "pcrel")}
AARCH64_STATIC = {257: (8, "abs"), 258: (4, "abs"), 260: (8, "pcrel"), 261: (4, "pcrel")}
ARM_STATIC = {2: (4, "abs"), 3: (4, "pcrel")}
RISCV_STATIC = {1: (4, "abs"), 2: (8, "abs"), 57: (4, "pcrel"), 33: (1, "add"), 34: (2, "add"), 35: (4, "add"),
                36: (8, "add"), 37: (1, "sub"), 38: (2, "sub"), 39: (4, "sub"), 40: (8, "sub"), 52: (1, "sub6"),
                53: (1, "set6")}
# PowerPC64 (ADDR32, ADDR64, REL32, REL64).  MIPS is not resolved here: 64-bit MIPS packs three types into
# r_info, and 32-bit MIPS objects keep their (REL) addends in place, which reads the same without it.
PPC64_STATIC = {1: (4, "abs"), 38: (8, "abs"), 26: (4, "pcrel"), 44: (8, "pcrel")}
EM_PPC64, EM_ARM, EM_RISCV = 21, 40, 243


def _resolver(elf: ElfFile) -> dict[int, tuple[int, str]]:
    if elf.machine == EM_X86_64:
        return X86_64_STATIC if elf.is_64 else X32_STATIC
    if elf.machine == EM_386:
        return I386_STATIC
    if elf.machine == EM_AARCH64:
        return AARCH64_STATIC
    if elf.machine == EM_ARM:
        return ARM_STATIC
    if elf.machine == EM_RISCV:
        return RISCV_STATIC
    if elf.machine == EM_PPC64:
        return PPC64_STATIC
    return {}


def _value(mode: str, target: int, stored: int, place: int) -> int:
    """The relocated value (before truncation to its width) for S + A = `target`."""
    if mode == "pcrel":
        return target - place
    if mode == "add":
        return stored + target
    if mode == "sub":
        return stored - target
    if mode == "set6":
        return (stored & 0xC0) | (target & 0x3F)
    if mode == "sub6":
        return (stored & 0xC0) | (((stored & 0x3F) - target) & 0x3F)
    return target


def _is_relocation_section(elf: ElfFile, section: Section) -> bool:
    return section.type == SectionType.RELA or (not elf.is_64 and section.type == SectionType.REL)


def _entries(elf: ElfFile, section: Section) -> Iterator[tuple[int, int, int, int | None]]:
    """(r_offset, type, symbol index, addend; None for REL, whose addend is the stored value) of one section."""
    raw = elf.section_bytes(section) or b""
    if elf.is_64:
        for r_offset, r_info, addend in _RELA.iter_unpack(raw[:len(raw) - len(raw) % _RELA.size]):
            yield r_offset, r_info & 0xFFFFFFFF, r_info >> 32, addend
    elif section.type == SectionType.RELA:
        for r_offset, r_info, addend in _RELA32.iter_unpack(raw[:len(raw) - len(raw) % _RELA32.size]):
            yield r_offset, r_info & 0xFF, r_info >> 8, addend
    else:
        for r_offset, r_info in _REL32.iter_unpack(raw[:len(raw) - len(raw) % _REL32.size]):
            yield r_offset, r_info & 0xFF, r_info >> 8, None


def relocated_section_bytes(elf: ElfFile, section: Section, strict: bool = True) -> bytes:
    """The section's bytes with every SHT_RELA section that targets it applied (ET_REL files only).

    As LLVM and readelf resolve them: absolute types store S + A, pc-relative ones S + A - r_offset,
    RISC-V's ADD/SUB/SET6/SUB6 combine S + A with the stored value (pairs at one place applied in turn, as
    LLVM's RelocAddrEntry applies its two), S being the symbol's value plus its section's address.
    An unknown type raises FormatError, or
    (`strict=False`, LLVM's choice for debug sections) leaves those bytes as they are.
    """
    from .symtab import SHN_LORESERVE, symbols_in

    data = elf.section_bytes(section) or b""
    if elf.type != ET_REL:
        return data
    sections = elf.sections
    relas = [s for s in sections if _is_relocation_section(elf, s) and s.info == section.index]
    if not relas:
        return data
    out = bytearray(data)
    resolver = _resolver(elf)
    for rela in relas:
        if rela.link >= len(sections):
            raise FormatError(f"{rela.name} links to a missing symbol table", elf.path, rela.offset)
        symbols = symbols_in(elf, sections[rela.link])
        bases = [(s.value + sections[s.shndx].addr) if 0 < s.shndx < min(SHN_LORESERVE, len(sections)) else s.value
                 for s in symbols]
        width = rela.entsize or 1
        for k, (r_offset, kind, index, addend) in enumerate(_entries(elf, rela)):
            if kind == 0:
                continue
            where = rela.offset + k * width
            found = resolver.get(kind)
            if found is None:
                if strict:
                    raise FormatError(f"unsupported relocation type {kind} in {rela.name}", elf.path, where)
                continue
            if index >= len(symbols):
                raise FormatError(f"relocation names symbol {index} past the end of its table", elf.path, where)
            size, mode = found
            if r_offset + size > len(out):
                raise FormatError(f"relocation at {r_offset:#x} is outside {section.name}", elf.path, where)
            stored = int.from_bytes(out[r_offset:r_offset + size], "little")
            value = _value(mode, bases[index] + (stored if addend is None else addend), stored, r_offset)
            out[r_offset:r_offset + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
    return bytes(out)


def debug_section_bytes(elf: ElfFile, name: str) -> bytes | None:
    """A DWARF section's bytes, decompressed, relocated when the file is relocatable (.o, .ko); None if absent."""
    section = elf.section(name)
    if section is None:
        return None
    if elf.type != ET_REL:
        return elf.section_bytes(section)
    return relocated_section_bytes(elf, section, strict=False)


def relocation_sections(elf: ElfFile, section: Section) -> dict[int, int]:
    """r_offset -> section index of the relocation's symbol, for every RELA entry aimed at `section` (ET_REL).

    LLVM's DWARF reader tags a relocated address with that section (`SectionedAddress`): a relocatable
    file's line sequences are told apart by it.
    """
    from .symtab import symbols_in

    if elf.type != ET_REL:
        return {}
    sections = elf.sections
    found: dict[int, int] = {}
    for rela in sections:
        if not _is_relocation_section(elf, rela) or rela.info != section.index or rela.link >= len(sections):
            continue
        symbols = symbols_in(elf, sections[rela.link])
        for r_offset, kind, index, _ in _entries(elf, rela):
            if kind and index < len(symbols):
                found[r_offset] = symbols[index].shndx
    return found
