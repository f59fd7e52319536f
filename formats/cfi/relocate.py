"""Apply a relocatable object's .rela relocations to a frame section, as readelf does before dumping."""

from __future__ import annotations

from ..elf import ElfFile, Section
from ..relocations import relocated_section_bytes as _relocated


def relocated_section_bytes(elf: ElfFile, section: Section) -> bytes:
    """The frame section's bytes with its RELA sections applied (ET_REL only); unknown types raise."""
    return _relocated(elf, section, strict=True)
