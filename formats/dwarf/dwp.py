"""DWARF packages (.dwp): the unit index (.debug_cu_index, versions 2 and 5) and one unit's section slices.

Layout (DWARF 5 section 7.3.5; the GNU version 2 proposal has the same tables): a header
(version, section count, unit count, slot count), the hash table of 64-bit unit signatures
(DWO ids), the parallel table of 1-based row numbers, the column header of section ids, then
per row the offsets and the sizes of that unit's contribution to each section.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import FormatError, TruncatedError
from .units import DwarfSections

if TYPE_CHECKING:
    from ..elf import ElfFile

# Section ids of the index columns: version 2 (GNU) and version 5.
_V2 = {1: "info", 3: "abbrev", 6: "str_offsets"}
_V5 = {1: "info", 3: "abbrev", 6: "str_offsets", 8: "rnglists"}


def parse_unit_index(data: bytes, path: str | None = None) -> dict[int, dict[str, tuple[int, int]]]:
    """{signature: {section name: (offset, size)}} of a .debug_cu_index; FormatError when malformed."""
    if len(data) < 16:
        raise TruncatedError("unit index header is cut short", path, 0)
    version = int.from_bytes(data[0:2], "little")
    if version not in (2, 5):
        raise FormatError(f"unsupported unit index version {version}", path, 0)
    columns, units, slots = (int.from_bytes(data[at:at + 4], "little") for at in (4, 8, 12))
    hashes = 16
    rows = hashes + 8 * slots
    ids = rows + 4 * slots
    offsets = ids + 4 * columns
    sizes = offsets + 4 * columns * units
    if sizes + 4 * columns * units > len(data) or columns > 64:
        raise TruncatedError("unit index tables run past the end of the section", path, 0)
    names = _V5 if version == 5 else _V2
    column_names = [names.get(int.from_bytes(data[ids + 4 * c:ids + 4 * c + 4], "little")) for c in range(columns)]
    out: dict[int, dict[str, tuple[int, int]]] = {}
    for slot in range(slots):
        row = int.from_bytes(data[rows + 4 * slot:rows + 4 * slot + 4], "little")
        if row == 0:
            continue
        if row > units:
            raise FormatError(f"unit index row {row} beyond {units} units", path, rows + 4 * slot)
        signature = int.from_bytes(data[hashes + 8 * slot:hashes + 8 * slot + 8], "little")
        contributions = {}
        for c, name in enumerate(column_names):
            if name is None:
                continue
            at = 4 * ((row - 1) * columns + c)
            contributions[name] = (int.from_bytes(data[offsets + at:offsets + at + 4], "little"),
                                   int.from_bytes(data[sizes + at:sizes + at + 4], "little"))
        out[signature] = contributions
    return out


def package_sections(dwp: ElfFile, contributions: dict[str, tuple[int, int]],
                     skeleton: DwarfSections) -> DwarfSections:
    """The sections of one unit of a package `dwp`: its slices, the whole string section,
    and the binary's address pool and (DWARF 4) range lists."""

    def unit_slice(name: str) -> bytes:
        whole = dwp.section_bytes(f".debug_{name}.dwo") or b""
        if name in contributions:
            offset, size = contributions[name]
            return whole[offset:offset + size]
        return b"" if name != "rnglists" else whole

    return DwarfSections(info=unit_slice("info"), abbrev=unit_slice("abbrev"), str_offsets=unit_slice("str_offsets"),
                         rnglists=unit_slice("rnglists"), str=dwp.section_bytes(".debug_str.dwo") or b"",
                         addr=skeleton.addr, ranges=skeleton.ranges, path=dwp.path)
