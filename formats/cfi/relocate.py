"""Apply a relocatable object's .rela relocations to a frame section, as readelf does before dumping."""

from __future__ import annotations

from ..errors import FormatError
from ..relocations import RELA_SIZE, read_relocations
from ..symtab import symbols_in

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
        symbols = symbols_in(elf, sections[rela.link])
        for k, rel in enumerate(read_relocations(elf, rela)):
            where = rela.offset + k * RELA_SIZE
            if rel.type == 0:
                continue
            if rel.type not in _TYPES:
                raise FormatError(f"unsupported relocation type {rel.type} in {rela.name}", elf.path, where)
            if rel.symbol >= len(symbols):
                raise FormatError(f"relocation names symbol {rel.symbol} past the end of its table", elf.path, where)
            size, pcrel = _TYPES[rel.type]
            value = symbols[rel.symbol].value + rel.addend
            if pcrel:
                value -= rel.offset
            if rel.offset + size > len(out):
                raise FormatError(f"relocation at {rel.offset:#x} is outside {section.name}", elf.path, where)
            out[rel.offset:rel.offset + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
    return bytes(out)
