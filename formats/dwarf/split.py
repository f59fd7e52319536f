"""Split DWARF (-gsplit-dwarf): the split unit of a skeleton, read from its .dwo file.

The skeleton unit in the binary keeps the line table, the address pool (.debug_addr) and,
for DWARF 4 (GNU extension), the range lists; the .dwo holds the DIEs, their abbreviations
and strings.  A split unit's DW_AT_decl_file/call_file index the skeleton's line table.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from .constants import DW_UT
from .dies import UnitContext
from .info import CompileUnit, ScanStats, UnitFunctions, _resolver, _guarded, _scan_unit
from .units import DwarfSections

if TYPE_CHECKING:
    from ..elf import ElfFile
    from ..errors import FormatError



def dwo_sections(dwo: ElfFile, skeleton: DwarfSections) -> DwarfSections:
    """The sections a split unit is decoded with: the .dwo's own `.debug_*.dwo`, the binary's pool and ranges."""

    def get(name: str) -> bytes:
        return dwo.section_bytes(f".debug_{name}.dwo") or b""

    return DwarfSections(info=get("info"), abbrev=get("abbrev"), str=get("str"), str_offsets=get("str_offsets"),
                         rnglists=get("rnglists"), addr=skeleton.addr, ranges=skeleton.ranges, path=dwo.path)


def scan_split_unit(skeleton: CompileUnit, sections: DwarfSections, problems: list[FormatError],
                    stats: ScanStats | None = None) -> UnitFunctions | None:
    """The subroutines of the split compile unit in `sections` (a .dwo), placed under `skeleton`.

    Bases the split unit does not state come from the skeleton (addr_base, GNU ranges_base, low_pc)
    or are the header sizes of the .dwo's own contributions (DWARF 5 str_offsets and rnglists).
    None when the .dwo holds no readable compile unit (a warning is recorded in `problems`).
    """
    stats = stats if stats is not None else ScanStats()
    resolver = _resolver(sections, problems, stats, False)
    for header in resolver.headers:
        if header.version >= 5 and header.unit_type != DW_UT.split_compile:
            continue
        ctx = _guarded(sections, header, problems, stats,
                       lambda h: UnitContext(sections, h, False, resolver.abbrev_cache))
        if ctx is None:
            continue
        ctx.addr_base = skeleton.addr_base if skeleton.addr_base is not None else 0
        ctx.ranges_base = skeleton.ranges_base
        ctx.base_address = skeleton.low_pc
        if ctx.str_offsets_base is None:
            ctx.str_offsets_base = 8 if header.version >= 5 and header.offset_size == 4 else \
                16 if header.version >= 5 else 0
        if ctx.rnglists_base is None and header.version >= 5:
            ctx.rnglists_base = 12 if header.offset_size == 4 else 20
        resolver.contexts[header.offset] = ctx
        # resolver.context(h) is the ctx just stored
        found = _guarded(sections, header, problems, stats, lambda h: _scan_unit(resolver.context(h), resolver, stats))
        if found is None:
            return None
        # file indexes of the split unit mean the skeleton's line table
        subs = [replace(sub, decl_unit=None) for sub in found.subroutines]
        return UnitFunctions(skeleton, subs, found.starts, found.ends, found.which)
    return None
