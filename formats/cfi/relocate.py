"""Apply a relocatable object's .rela relocations to a frame section, as readelf does before dumping."""

from __future__ import annotations

import struct

from ..errors import FormatError, parsing

_RELA = struct.Struct("<QQq")
_SYM = struct.Struct("<IBBHQQ")
ET_REL = 1
SHT_RELA = 4
# type -> (size, pc-relative)
_TYPES = {1: (8, False), 2: (4, True), 10: (4, False), 11: (4, False), 24: (8, True), 4: (4, True)}


def relocated_section_bytes(elf, section) -> bytes:
    """The section's bytes with every SHT_RELA section that targets it applied (ET_REL files only).

    Like readelf: absolute relocations store S + A, pc-relative ones S + A - r_offset.
    """
    data = elf.section_bytes(section)
    if elf.type != ET_REL:
        return data
    sections = elf.sections
    relas = [s for s in sections if s.type == SHT_RELA and s.info == section.index]
    if not relas:
        return data
    out = bytearray(data)
    for rela in relas:
        if rela.link >= len(sections):
            raise FormatError(f"{rela.name} links to a missing symbol table", elf.path, rela.offset)
        symtab = sections[rela.link]
        syms = elf.raw_section_bytes(symtab)
        raw = elf.section_bytes(rela)
        for k in range(len(raw) // _RELA.size):
            where = rela.offset + k * _RELA.size
            with parsing(elf.path, where, "relocation"):
                r_offset, r_info, addend = _RELA.unpack_from(raw, k * _RELA.size)
                kind, index = r_info & 0xFFFFFFFF, r_info >> 32
                if kind == 0:
                    continue
                if kind not in _TYPES:
                    raise FormatError(f"unsupported relocation type {kind} in {rela.name}", elf.path, where)
                size, pcrel = _TYPES[kind]
                value = _SYM.unpack_from(syms, index * _SYM.size)[4] + addend
                if pcrel:
                    value -= r_offset
                if r_offset + size > len(out):
                    raise FormatError(f"relocation at {r_offset:#x} is outside {section.name}", elf.path, where)
                out[r_offset:r_offset + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
    return bytes(out)
