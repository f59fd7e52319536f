"""llvm-symbolizer's FRAME requests: the local variables of the function at an address.

The persistent index names the unit an address belongs to (LLVM's getCompileUnitForAddress) and
that unit's file table; the DIEs of that one unit are read again on request
(formats/dwarf/locals.py), since FRAME requests are rare and the variables are not indexed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from formats.dwarf.locals import FrameLocals

    from .index import IndexSources
    from .symbolizer import ModuleSymbols


class FrameLocal(NamedTuple):
    """One variable of a FRAME answer (LLVM's DILocal); None where LLVM leaves a field unset."""

    function: str | None
    name: str | None
    decl_file: str | None  # absolute path, from the line table of the address's unit
    decl_line: int
    frame_offset: int | None
    size: int | None
    tag_offset: int | None


class FrameReader:
    """The DWARF sections of one module, read on the first FRAME request and kept for the next ones."""

    def __init__(self, sources: IndexSources):
        from dataclasses import replace

        from formats.dwarf.locals import FrameLocals, LocationSections
        from formats.dwarf.units import DwarfSections
        from formats.relocations import debug_section_bytes

        dwarf = sources.dwarf
        self._dwarf: FrameLocals | None = None
        if dwarf is None:
            return
        sections = DwarfSections.from_elf(dwarf)
        if sources.alt is not None:
            sections = replace(sections, alt=DwarfSections.from_elf(sources.alt))
        self._dwarf = FrameLocals(sections, LocationSections(debug_section_bytes(dwarf, ".debug_loc") or b"",
                                                             debug_section_bytes(dwarf, ".debug_loclists") or b""))

    def locals(self, module: ModuleSymbols, vaddr: int) -> list[FrameLocal]:
        """The FRAME answer for `vaddr`: empty when no unit or no subroutine covers it."""
        if self._dwarf is None:
            return []
        unit = module.unit_at(vaddr)
        if unit is None:
            return []
        found = self._dwarf.at(module.unit_offset(unit), vaddr)
        return [FrameLocal(v.function, v.name, module.file_name(unit, v.decl_file) if v.decl_file is not None
                           else None, v.decl_line, v.frame_offset, v.size, v.tag_offset) for v in found]
