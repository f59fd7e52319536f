"""Fast .debug_info scan: per compile unit, the subprogram/inlined_subroutine tree and LLVM 14's address map."""

from __future__ import annotations

import struct
import warnings
from array import array
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, TypeVar

from ..errors import FormatError, TruncatedError
from ..leb128 import read_uleb
from .addrmap import AddressDieMap, lookup
from .constants import DW_AT, DW_TAG, DW_UT
from .dies import (A_FIXED, A_PLAN, A_SIBLING, BAD, Attr, CompiledAbbrev, UnitContext, decode_fields, skip_plan,
                   unsigned)
from .names import DieResolver
from .units import DwarfSections, UnitHeader, iter_unit_headers

__all__ = ["CompileUnit", "Subroutine", "UnitFunctions", "DwarfSections", "ScanStats", "scan_units", "compile_units"]


@dataclass(frozen=True, slots=True)
class CompileUnit:
    """A unit header plus what its unit DIE says (name, directory, line table, bases, address ranges)."""

    offset: int
    version: int
    unit_type: int
    address_size: int
    offset_size: int
    abbrev_offset: int
    name: str | None
    comp_dir: str | None
    stmt_list: int | None
    low_pc: int | None
    ranges: tuple[tuple[int, int], ...]
    str_offsets_base: int | None
    addr_base: int | None
    rnglists_base: int | None
    loclists_base: int | None
    end: int = 0  # offset of the next unit
    tag: int = DW_TAG.compile_unit  # of the unit DIE: compile_unit, partial_unit (dwz), skeleton_unit
    dwo_name: str | None = None  # DW_AT_dwo_name / DW_AT_GNU_dwo_name of a skeleton unit (split DWARF)
    ranges_base: int = 0  # DW_AT_GNU_ranges_base (split DWARF 4): added to the .dwo's DW_AT_ranges
    dwo_id: int | None = None  # the split unit's id: DWARF 5 unit header, else DW_AT_GNU_dwo_id


@dataclass(frozen=True, slots=True)
class Subroutine:
    """One DW_TAG_subprogram / DW_TAG_inlined_subroutine, with what llvm-symbolizer prints for it."""

    die_offset: int
    is_inlined: bool
    name: str | None  # raw (mangled) linkage name, else DW_AT_name, through origin/specification
    decl_line: int
    call_file: int
    call_line: int
    call_column: int
    call_discriminator: int
    parent: int  # index of the nearest enclosing subroutine in the same unit, -1 at top level
    decl_file: int | None = None  # findRecursively(DW_AT_decl_file), in the file table of unit `decl_unit`
    low_pc: int | None = None  # the DIE's own DW_AT_low_pc (absent for DW_AT_ranges-only DIEs)
    short_name: str | None = None  # DW_AT_name alone, through origin/specification (--functions=short)
    decl_unit: int | None = None  # offset of the unit whose line table `decl_file` indexes (None: this one)


@dataclass
class UnitFunctions:
    """The subroutines of one unit and the flat address -> innermost subroutine map (sorted by start)."""

    unit: CompileUnit
    subroutines: list[Subroutine]
    starts: array[int]
    ends: array[int]
    which: array[int]
    # The unit ended before the null entries closing its children: where LLVM then tries to read one
    # more DIE (it warns "tries to read DIEs at offset ..." when it extracts the unit's DIEs).
    unclosed_at: int | None = None

    def innermost(self, address: int) -> int | None:
        """Index of the innermost subroutine covering `address` (LLVM getSubroutineForAddress), or None."""
        return lookup(self.starts, self.ends, self.which, address)

    def chain(self, address: int) -> list[Subroutine]:
        """The inline chain of `address`, innermost first, ending at the first subprogram (LLVM order)."""
        out: list[Subroutine] = []
        index = self.innermost(address)
        while index is not None and index >= 0 and len(out) <= len(self.subroutines):
            sub = self.subroutines[index]
            out.append(sub)
            if not sub.is_inlined:
                break
            index = sub.parent
        return out


@dataclass
class ScanStats:
    """Counters of one scan: units, DIEs stepped over or decoded, subroutines, problems (skipped units)."""

    units: int = 0
    dies: int = 0
    subroutines: int = 0
    problems: list[FormatError] = field(default_factory=list)


_SKIPPED_UNIT_TYPES = (DW_UT.type, DW_UT.split_type)
_T = TypeVar("_T")


def scan_units(sections: DwarfSections, problems: list[FormatError] | None = None, stats: ScanStats | None = None,
               skip_types: bool = False, offsets: Iterable[int] | None = None) -> Iterator[UnitFunctions]:
    """Yield one UnitFunctions per compile/partial unit; a unit that fails to parse is warned about and skipped.

    offsets limits the scan to the units starting there (lazy, per-unit use). skip_types jumps over
    subtrees that cannot hold code (enums, arrays, call sites...) by DW_AT_sibling; the default walks
    every DIE as LLVM does (it costs little: GCC does put member function definitions inside classes).
    """
    stats = stats if stats is not None else ScanStats()
    problems = problems if problems is not None else stats.problems
    wanted = None if offsets is None else set(offsets)
    resolver = _resolver(sections, problems, stats, skip_types)
    for header in resolver.headers:
        if header.unit_type in _SKIPPED_UNIT_TYPES or (wanted is not None and header.offset not in wanted):
            continue
        result = _guarded(sections, header, problems, stats,
                          lambda h: _scan_unit(resolver.context(h), resolver, stats))
        if result is not None:
            stats.units += 1
            yield result


def compile_units(sections: DwarfSections, problems: list[FormatError] | None = None) -> list[CompileUnit]:
    """Every compile/partial unit's CompileUnit record, reading only unit headers and unit DIEs (cheap)."""
    stats = ScanStats()
    problems = problems if problems is not None else stats.problems
    resolver = _resolver(sections, problems, stats, False)
    out = []
    for header in resolver.headers:
        if header.unit_type in _SKIPPED_UNIT_TYPES:
            continue
        unit = _guarded(sections, header, problems, stats,
                        lambda h: compile_unit(resolver.context(h)))
        if unit is not None:
            out.append(unit)
    return out


def _resolver(sections: DwarfSections, problems: list[FormatError], stats: ScanStats, skip_types: bool) -> DieResolver:
    header_problems: list[FormatError] = []
    headers = list(iter_unit_headers(sections.info, sections.path, header_problems))
    for exc in header_problems:
        _report(exc, problems, stats)
    return DieResolver(sections, headers, skip_types)


def _guarded(sections: DwarfSections, header: UnitHeader, problems: list[FormatError], stats: ScanStats,
             work: Callable[[UnitHeader], _T]) -> _T | None:
    """Run `work` on one unit's header; a decoding fault becomes a warning + problem entry and None."""
    try:
        return work(header)
    except FormatError as exc:
        _report(exc, problems, stats)
    except struct.error as exc:
        _report(TruncatedError(f"unit DIEs run past the end ({exc})", sections.path, header.offset), problems, stats)
    except OverflowError as exc:
        _report(FormatError(f"corrupt unit ({exc})", sections.path, header.offset), problems, stats)
    return None


def _report(exc: FormatError, problems: list[FormatError], stats: ScanStats) -> None:
    warnings.warn(f"skipping DWARF unit: {exc}", stacklevel=4)
    problems.append(exc)
    if problems is not stats.problems:
        stats.problems.append(exc)


def compile_unit(ctx: UnitContext) -> CompileUnit:
    """The CompileUnit record of a unit context (unit DIE attributes resolved)."""
    header, attrs = ctx.header, ctx.unit_attrs
    name, comp_dir = ctx.string(attrs.get(DW_AT.name)), ctx.string(attrs.get(DW_AT.comp_dir))
    stmt = attrs.get(DW_AT.stmt_list)
    return CompileUnit(
        header.offset, header.version, header.unit_type, header.address_size, header.offset_size,
        header.abbrev_offset, None if name is BAD else name, None if comp_dir is BAD else comp_dir,
        stmt[1] if stmt is not None and isinstance(stmt[1], int) else None,
        ctx.address(attrs.get(DW_AT.low_pc)), tuple(ctx.die_ranges(attrs)),
        ctx.str_offsets_base, ctx.addr_base, ctx.rnglists_base, ctx.loclists_base, header.end, ctx.unit_tag,
        _plain(ctx.string(attrs.get(DW_AT.dwo_name) or attrs.get(DW_AT.GNU_dwo_name))),
        _offset(attrs.get(DW_AT.GNU_ranges_base)),
        header.dwo_id if header.dwo_id is not None else _id(attrs.get(DW_AT.GNU_dwo_id)))


def _id(item: Attr | None) -> int | None:
    return item[1] if item is not None and isinstance(item[1], int) else None


def _offset(item: Attr | None) -> int:
    return item[1] if item is not None and isinstance(item[1], int) else 0


def _plain(text: object) -> str | None:
    return text if isinstance(text, str) else None


def _scan_unit(ctx: UnitContext, resolver: DieResolver, stats: ScanStats) -> UnitFunctions:
    """Walk one unit's DIE tree: the hot loop (steps over most DIEs without decoding them)."""
    unit = compile_unit(ctx)
    data = ctx.sections.info
    header = ctx.header
    end = header.end
    unit_offset = header.offset
    enc = ctx.enc
    abbrevs = ctx.abbrevs
    sparse: dict[int, CompiledAbbrev] | None = abbrevs if isinstance(abbrevs, dict) else None
    dense: list[CompiledAbbrev | None] = [] if isinstance(abbrevs, dict) else abbrevs
    dense_size = len(abbrevs)
    infos = resolver.infos
    subs: list[Subroutine] = []
    amap = AddressDieMap()
    dies = 1
    pos = ctx.first_child
    stack = [-1] if ctx.unit_has_children else []
    parent = -1
    while stack and pos < end:
        die_offset = pos
        code = data[pos]
        if code < 0x80:
            pos += 1
        else:
            code, pos = read_uleb(data, pos)
        if code == 0:
            parent = stack.pop()
            continue
        dies += 1
        if sparse is not None:
            entry = sparse.get(code)
        else:
            entry = dense[code] if code < dense_size else None
        if entry is None:
            raise FormatError(f"DIE uses undefined abbreviation code {code}", ctx.sections.path, die_offset)
        action, has_children, tail, plan, sibling_at, sibling_size, fields, tag = entry
        if action == A_FIXED:
            pos += tail
        elif action == A_PLAN:
            pos = skip_plan(data, pos, plan, tail, enc)
        elif action == A_SIBLING:
            at = pos + sibling_at
            target = unit_offset + int.from_bytes(data[at:at + sibling_size], "little")
            if pos < target <= end:
                pos = target
                continue
            pos = skip_plan(data, pos, plan, tail, enc)
        else:  # A_SUB
            attrs, pos = decode_fields(data, pos, fields, enc)
            index = len(subs)
            infos[die_offset] = resolver.make_info(ctx, attrs)
            name, short_name = resolver.subroutine_names(die_offset)
            decl_file, decl_unit = resolver.decl_file_unit(die_offset)
            subs.append(Subroutine(
                die_offset, tag == DW_TAG.inlined_subroutine, name,
                resolver.decl_line(die_offset), unsigned(attrs.get(DW_AT.call_file)),
                unsigned(attrs.get(DW_AT.call_line)), unsigned(attrs.get(DW_AT.call_column)),
                unsigned(attrs.get(DW_AT.GNU_discriminator)), parent, decl_file,
                ctx.address(attrs.get(DW_AT.low_pc)), short_name, decl_unit))
            for low, high in ctx.die_ranges(attrs):
                if low != high:
                    amap.add(low, high, index)
            if has_children:
                stack.append(parent)
                parent = index
            continue
        if has_children:
            stack.append(parent)
    if pos > end:
        raise TruncatedError("DIE runs past the end of its unit", ctx.sections.path, unit_offset)
    stats.dies += dies
    stats.subroutines += len(subs)
    starts, ends, which = amap.arrays()
    return UnitFunctions(unit, subs, starts, ends, which, pos if stack else None)
