"""Address -> compile unit table, as LLVM 14 DWARFDebugAranges::generate builds it (.debug_aranges + unit DIEs)."""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from typing import Iterable

from ..errors import FormatError, TruncatedError
from .info import CompileUnit, UnitFunctions
from .units import DwarfSections

_MASK = (1 << 64) - 1


def parse_aranges(data: bytes, path: str | None = None
                  ) -> tuple[list[tuple[int, int, int]], set[int], list[FormatError]]:
    """Sets of .debug_aranges: ([(low, high, cu_offset)], offsets of the CUs they cover, problems).

    Like LLVM's extract, the first malformed set ends the walk (earlier sets stay).
    """
    ranges: list[tuple[int, int, int]] = []
    covered: set[int] = set()
    problems: list[FormatError] = []
    offset = 0
    size = len(data)
    while offset < size:
        try:
            descriptors, cu_offset, offset = _parse_set(data, offset, path)
        except FormatError as exc:
            problems.append(exc)
            break
        ranges.extend((low, (low + length) & _MASK, cu_offset) for low, length in descriptors)
        covered.add(cu_offset)
    return ranges, covered, problems


def _parse_set(data: bytes, offset: int, path: str | None) -> tuple[list[tuple[int, int]], int, int]:
    size = len(data)
    if offset + 4 > size:
        raise TruncatedError("address range table header runs past the end", path, offset)
    length = int.from_bytes(data[offset:offset + 4], "little")
    pos = offset + 4
    offset_size = 4
    if length == 0xFFFFFFFF:
        length = int.from_bytes(data[pos:pos + 8], "little")
        pos += 8
        offset_size = 8
    end = pos + length
    if end > size or pos + 2 + offset_size + 2 > size:
        raise TruncatedError("section is not large enough to contain the address range table", path, offset)
    version = int.from_bytes(data[pos:pos + 2], "little")
    cu_offset = int.from_bytes(data[pos + 2:pos + 2 + offset_size], "little")
    pos += 2 + offset_size
    address_size, segment_size = data[pos], data[pos + 1]
    pos += 2
    if version not in (2, 3):
        raise FormatError(f"address range table has unsupported version {version}", path, offset)
    if address_size not in (4, 8):
        raise FormatError(f"address range table has unsupported address size {address_size}", path, offset)
    if segment_size != 0:
        raise FormatError("address range table has a segment selector", path, offset)
    tuple_size = 2 * address_size
    header_size = pos - offset
    first = 0
    while first < header_size:
        first += tuple_size
    full_length = end - offset
    if full_length < first or (full_length - first) % tuple_size:
        raise FormatError("address range table length is not a multiple of the tuple size", path, offset)
    pos = offset + first
    descriptors: list[tuple[int, int]] = []
    while pos < end:
        address = int.from_bytes(data[pos:pos + address_size], "little")
        length = int.from_bytes(data[pos + address_size:pos + tuple_size], "little")
        pos += tuple_size
        if address == 0 and length == 0 and pos == end:
            return descriptors, cu_offset, end
        descriptors.append((address, length))
    raise FormatError("address range table is not terminated by a null entry", path, offset)


def unit_address_ranges(sections: DwarfSections,
                        units: Iterable[CompileUnit | UnitFunctions]) -> list[tuple[int, int, int]]:
    """Sorted disjoint (low, high, unit_offset): .debug_aranges, plus unit-DIE ranges of CUs it lacks.

    `units` holds CompileUnit or UnitFunctions records, in .debug_info order.
    """
    ranges, covered, _ = parse_aranges(sections.aranges, sections.path)
    endpoints: list[tuple[int, int, bool]] = []
    for low, high, cu in ranges:
        if low < high:
            endpoints.append((low, cu, True))
            endpoints.append((high, cu, False))
    for item in units:
        unit = item.unit if isinstance(item, UnitFunctions) else item
        if unit.offset in covered:
            continue
        covered.add(unit.offset)
        for low, high in unit.ranges:
            if low < high:
                endpoints.append((low, unit.offset, True))
                endpoints.append((high, unit.offset, False))
    return _construct(endpoints)


def _construct(endpoints: list[tuple[int, int, bool]]) -> list[tuple[int, int, int]]:
    """LLVM DWARFDebugAranges::construct: sweep the endpoints, the lowest live CU offset owns each piece."""
    endpoints.sort(key=lambda e: e[0])
    live: Counter[int] = Counter()
    out: list[list[int]] = []
    previous = _MASK
    for address, cu, is_start in endpoints:
        if previous < address and live:
            if out and out[-1][1] == previous and live.get(out[-1][2]):
                out[-1][1] = address
            else:
                out.append([previous, address, min(live)])
        if is_start:
            live[cu] += 1
        else:
            live[cu] -= 1
            if not live[cu]:
                del live[cu]
        previous = address
    return [(low, high, cu) for low, high, cu in out]


def find_unit(table: list[tuple[int, int, int]], address: int) -> int | None:
    """Unit offset owning `address` in a unit_address_ranges table (LLVM findAddress), or None."""
    i = bisect_right(table, address, key=lambda r: r[1])
    if i < len(table) and table[i][0] <= address:
        return table[i][2]
    return None
