"""Per-unit DIE decoding: abbreviations compiled into skip plans, attribute values, strings, addresses, ranges."""

from __future__ import annotations

from enum import Enum
from typing import Final, TypeAlias

from ..errors import FormatError, TruncatedError
from ..leb128 import read_uleb
from .abbrev import Abbrev, parse_abbrev_table
from .constants import DW_AT, DW_FORM, DW_TAG
from .forms import (ADDRX_FORMS, SKIP_BLOCK, SKIP_LEB, STRX_FORMS, UnitEncoding, fixed_size, read_value,
                    skip_kind)
from .ranges import debug_ranges, rnglist_offset, rnglist_ranges
from .units import DwarfSections, UnitHeader

# What the scanner does with a DIE of a given abbreviation.
A_FIXED = 0  # step over a constant number of attribute bytes
A_PLAN = 1  # step over attributes following a plan of fixed runs and variable-size forms
A_SIBLING = 2  # subtree cannot hold code: jump to its DW_AT_sibling target
A_SUB = 3  # subprogram or inlined_subroutine: decode its attributes

SUBROUTINE_TAGS = frozenset({DW_TAG.subprogram, DW_TAG.inlined_subroutine})
# Subtrees that may hold subprogram/inlined_subroutine DIEs with code (GCC puts some member
# function definitions inside their class); every other subtree is skipped by DW_AT_sibling when
# `skip_types` is on (enums, arrays, call sites, parameter packs...).
CODE_SCOPE_TAGS = frozenset({
    DW_TAG.compile_unit, DW_TAG.partial_unit, DW_TAG.skeleton_unit, DW_TAG.subprogram,
    DW_TAG.inlined_subroutine, DW_TAG.lexical_block, DW_TAG.namespace, DW_TAG.module,
    DW_TAG.try_block, DW_TAG.catch_block, DW_TAG.entry_point, DW_TAG.with_stmt, DW_TAG.common_block,
    DW_TAG.structure_type, DW_TAG.class_type, DW_TAG.union_type, DW_TAG.interface_type,
})
_SIBLING_FORMS: dict[int, int] = {DW_FORM.ref1: 1, DW_FORM.ref2: 2, DW_FORM.ref4: 4, DW_FORM.ref8: 8}


class Bad(Enum):
    """The type of BAD, so that `x is BAD` narrows it away."""

    BAD = "BAD"


BAD: Final = Bad.BAD  # an attribute that is present but whose value cannot be read (LLVM: extraction fails)

# A decoded attribute: (form, value); the value is an int, except bytes for blocks, DW_FORM_string and data16
# (forms.read_value), so a form check tells which.
AttrValue: TypeAlias = "int | bytes"
Attr: TypeAlias = "tuple[int, AttrValue]"
Attrs: TypeAlias = "dict[int, Attr]"
# A compiled attribute spec: (attr, form, implicit const, fixed size or None).
Field: TypeAlias = "tuple[int, int, int, int | None]"
# ((fixed bytes before, SKIP_* code of a variable form), ...)
Plan: TypeAlias = "tuple[tuple[int, int], ...]"
# (action, has_children, tail, plan, sibling_at, sibling_size, fields, tag): see compile_abbrev.
CompiledAbbrev: TypeAlias = "tuple[int, bool, int, Plan, int, int, tuple[Field, ...], int]"
# Compiled abbreviations by code: a list when the codes are dense, else a dict.
CompiledTable: TypeAlias = "list[CompiledAbbrev | None] | dict[int, CompiledAbbrev]"
AbbrevCache: TypeAlias = "dict[tuple[int, UnitEncoding, bool], CompiledTable]"


def compile_abbrev(abbrev: Abbrev, enc: UnitEncoding, skip_types: bool) -> CompiledAbbrev:
    """(action, has_children, tail, plan, sibling_at, sibling_size, fields, tag) for the hot scan loop.

    plan: ((fixed bytes before, SKIP_* code of a variable form), ...) then `tail` fixed bytes.
    sibling_at, sibling_size: where the DW_AT_sibling reference is and its size (used by A_SIBLING only).
    fields: ((attr, form, implicit, fixed size or None), ...) for full decoding.
    """
    plan: list[tuple[int, int]] = []
    run = 0
    sibling_at: int | None = None
    sibling_size = 0
    fields: list[Field] = []
    for spec in abbrev.attrs:
        size = fixed_size(spec.form, enc)
        fields.append((spec.attr, spec.form, spec.implicit, size))
        if spec.attr == DW_AT.sibling and sibling_at is None and not plan and spec.form in _SIBLING_FORMS:
            sibling_at, sibling_size = run, _SIBLING_FORMS[spec.form]
        if size is not None:
            run += size
        else:
            plan.append((run, skip_kind(spec.form)))
            run = 0
    if abbrev.tag in SUBROUTINE_TAGS:
        action = A_SUB
    elif (skip_types and abbrev.has_children and sibling_at is not None
          and abbrev.tag not in CODE_SCOPE_TAGS):
        action = A_SIBLING
    else:
        action = A_PLAN if plan else A_FIXED
    return (action, abbrev.has_children, run, tuple(plan), sibling_at or 0, sibling_size, tuple(fields), abbrev.tag)


def compile_table(table: dict[int, Abbrev], enc: UnitEncoding, skip_types: bool) -> CompiledTable:
    """Compiled abbreviations indexed by code: a list when the codes are dense, else a dict."""
    compiled = {code: compile_abbrev(ab, enc, skip_types) for code, ab in table.items()}
    top = max(compiled, default=0)
    if top > 4 * len(compiled) + 64:
        return compiled
    dense: list[CompiledAbbrev | None] = [None] * (top + 1)
    for code, entry in compiled.items():
        dense[code] = entry
    return dense


def decode_fields(data: bytes, pos: int, fields: tuple[Field, ...], enc: UnitEncoding) -> tuple[Attrs, int]:
    """Decode every attribute of one DIE: {attr: (form, value)} (first occurrence wins, as LLVM's find)."""
    out: Attrs = {}
    value: AttrValue
    for attr, form, implicit, size in fields:
        if size is not None:
            if size == 0:
                value = implicit if form == DW_FORM.implicit_const else 1
            elif form == DW_FORM.data16:
                value = data[pos:pos + 16]
                pos += 16
            else:
                value = int.from_bytes(data[pos:pos + size], "little")
                pos += size
        else:
            value, pos, form = read_value(data, pos, form, enc)
        if attr not in out:
            out[attr] = (form, value)
    if pos > len(data):
        raise TruncatedError("DIE runs past the end of .debug_info")
    return out, pos


def skip_plan(data: bytes, pos: int, plan: Plan, tail: int, enc: UnitEncoding) -> int:
    """Step over attributes with a compiled plan (the slow path for rare variable forms)."""
    end = len(data)
    for pre, kind in plan:
        pos += pre
        if kind in (SKIP_LEB, SKIP_BLOCK) and pos >= end:
            raise TruncatedError("DIE attribute runs past the end of .debug_info")
        if kind == SKIP_LEB:
            while data[pos] & 0x80:
                pos += 1
                if pos >= end:
                    raise TruncatedError("LEB128 attribute runs past the end of .debug_info")
            pos += 1
        elif kind == SKIP_BLOCK:
            length = data[pos]
            if length < 0x80:
                pos += length + 1
            else:
                _, pos, _ = read_value(data, pos, DW_FORM.block, enc)
        else:
            form = {2: DW_FORM.string, 4: DW_FORM.block1, 5: DW_FORM.block2, 6: DW_FORM.block4,
                    7: DW_FORM.indirect}[kind]
            _, pos, _ = read_value(data, pos, form, enc)
    return pos + tail


class UnitContext:
    """One unit's decoding state: header, compiled abbreviations, unit-DIE bases, string/address lookups."""

    def __init__(self, sections: DwarfSections, header: UnitHeader, skip_types: bool = True,
                 abbrev_cache: AbbrevCache | None = None):
        self.sections = sections
        self.header = header
        self.enc = header.encoding
        key = (header.abbrev_offset, self.enc, skip_types)
        cache: AbbrevCache = abbrev_cache if abbrev_cache is not None else {}
        table = cache.get(key)
        if table is None:
            raw = parse_abbrev_table(sections.abbrev, header.abbrev_offset, sections.path)
            table = cache[key] = compile_table(raw, self.enc, skip_types)
        self.abbrevs = table
        self.str_offsets_base: int | None = None
        self.addr_base: int | None = None
        self.rnglists_base: int | None = None
        self.loclists_base: int | None = None
        self.base_address: int | None = None
        self.ranges_base = 0  # split DWARF 4: the skeleton's DW_AT_GNU_ranges_base, added to .debug_ranges offsets
        self.unit_tag = 0
        self.unit_attrs: Attrs = {}
        self.unit_has_children = False
        self.first_child = header.die_offset
        self._read_unit_die()

    def abbrev(self, code: int, offset: int) -> CompiledAbbrev:
        """Compiled abbreviation `code`; FormatError naming the DIE offset when the table lacks it."""
        table = self.abbrevs
        if isinstance(table, dict):
            entry = table.get(code)
        else:
            entry = table[code] if code < len(table) else None
        if entry is None:
            raise FormatError(f"DIE uses undefined abbreviation code {code}", self.sections.path, offset)
        return entry

    def _read_unit_die(self) -> None:
        data = self.sections.info
        pos = self.header.die_offset
        code, pos = _uleb(data, pos)
        if code == 0:
            raise FormatError("unit has no unit DIE", self.sections.path, self.header.die_offset)
        entry = self.abbrev(code, self.header.die_offset)
        attrs, pos = decode_fields(data, pos, entry[6], self.enc)
        self.unit_tag, self.unit_attrs, self.unit_has_children = entry[7], attrs, entry[1]
        self.first_child = pos
        self.str_offsets_base = _section_offset(attrs.get(DW_AT.str_offsets_base))
        self.addr_base = _section_offset(attrs.get(DW_AT.addr_base) or attrs.get(DW_AT.GNU_addr_base))
        self.rnglists_base = _section_offset(attrs.get(DW_AT.rnglists_base))
        self.loclists_base = _section_offset(attrs.get(DW_AT.loclists_base))
        self.base_address = self.address(attrs.get(DW_AT.low_pc) or attrs.get(DW_AT.entry_pc))

    # ---- values ----------------------------------------------------------------------

    def string(self, item: Attr | None) -> str | Bad | None:
        """A string attribute as str; None when absent, BAD when present but unreadable."""
        if item is None:
            return None
        form, value = item
        if isinstance(value, bytes):  # DW_FORM_string; a block or data16 holds no string
            return value.decode("utf-8", "replace") if form == DW_FORM.string else BAD
        if form == DW_FORM.strp:
            return _cstring(self.sections.str, value)
        if form == DW_FORM.line_strp:
            return _cstring(self.sections.line_str, value)
        if form == DW_FORM.GNU_strp_alt or form == DW_FORM.strp_sup:
            alt = self.sections.alt
            return BAD if alt is None else _cstring(alt.str, value)
        if form in STRX_FORMS:
            if self.str_offsets_base is None:
                return BAD
            size = self.enc.offset_size
            at = self.str_offsets_base + value * size
            table = self.sections.str_offsets
            if at + size > len(table):
                return BAD
            return _cstring(self.sections.str, int.from_bytes(table[at:at + size], "little"))
        return BAD

    def address(self, item: Attr | None) -> int | None:
        """An address-class attribute (addr or addrx*) as an address; None when absent or unreadable."""
        if item is None:
            return None
        value: int  # for the forms used below (forms.read_value gives bytes only for blocks and strings)
        form, value = item  # type: ignore[assignment]
        if form == DW_FORM.addrx or form == DW_FORM.GNU_addr_index:
            return self.pooled_address(value)
        if form == DW_FORM.addr or form in ADDRX_FORMS:
            # LLVM 14 getAsSectionedAddress looks up only addrx/GNU_addr_index in .debug_addr:
            # DW_FORM_addrx1..4 come back as the raw index, and llvm-symbolizer uses that.
            return value
        return None

    def pooled_address(self, index: int) -> int | None:
        """Slot `index` of this unit's .debug_addr contribution (LLVM getAddrOffsetSectionItem)."""
        if self.addr_base is None:
            return None
        size = self.enc.address_size
        at = self.addr_base + index * size
        if at + size > len(self.sections.addr):
            return None
        return int.from_bytes(self.sections.addr[at:at + size], "little")

    def die_ranges(self, attrs: Attrs) -> list[tuple[int, int]]:
        """A DIE's address ranges exactly as LLVM 14 DWARFDie::getAddressRanges (empty on any error)."""
        low = self.address(attrs.get(DW_AT.low_pc))
        if low is not None:
            high = attrs.get(DW_AT.high_pc)
            if high is not None and low != (1 << 8 * self.enc.address_size) - 1:
                form, value = high
                end: int | None
                if form == DW_FORM.addr or form in ADDRX_FORMS:
                    end = self.address(high)
                elif form in _UNSIGNED_FORMS:
                    end = (low + value) & 0xFFFFFFFFFFFFFFFF  # type: ignore[operator]  # constant forms hold ints
                else:
                    end = None
                if end is not None:
                    return [(low, end)]
        ranges = attrs.get(DW_AT.ranges)
        if ranges is None:
            return []
        form, offset_value = ranges
        if not isinstance(offset_value, int) or form == DW_FORM.sdata:
            return []
        path = self.sections.path
        try:
            if form == DW_FORM.rnglistx:
                if self.rnglists_base is None:
                    return []
                offset = rnglist_offset(self.sections.rnglists, self.rnglists_base, offset_value,
                                        self.enc.offset_size)
                if offset is None:
                    return []
            else:
                offset = offset_value + (self.ranges_base if form == DW_FORM.sec_offset else 0)
            if self.enc.version <= 4:
                return debug_ranges(self.sections.ranges, offset, self.enc.address_size, self.base_address, path)
            return rnglist_ranges(self.sections.rnglists, offset, self.enc.address_size, self.base_address,
                                  self.pooled_address, path)
        except FormatError:
            return []


# Forms LLVM's getAsUnsignedConstant accepts (constant and flag classes, not sdata).
_UNSIGNED_FORMS = frozenset({DW_FORM.data1, DW_FORM.data2, DW_FORM.data4, DW_FORM.data8, DW_FORM.udata,
                             DW_FORM.implicit_const, DW_FORM.flag, DW_FORM.flag_present})


def unsigned(item: Attr | None, default: int = 0) -> int:
    """LLVM toUnsigned(value, default): the value for constant/flag forms, else `default`."""
    if item is None or item[0] not in _UNSIGNED_FORMS:
        return default
    return item[1] & 0xFFFFFFFFFFFFFFFF  # type: ignore[operator]  # constant and flag forms hold ints


def _section_offset(item: Attr | None) -> int | None:
    if item is None:
        return None
    value = item[1]
    return value if isinstance(value, int) else None


def _cstring(section: bytes, offset: int) -> str | Bad:
    end = section.find(b"\0", offset)
    if end < 0 or offset >= len(section):
        return BAD
    return section[offset:end].decode("utf-8", "replace")


def _uleb(data: bytes, pos: int) -> tuple[int, int]:
    if pos < len(data):
        byte = data[pos]
        if byte < 0x80:
            return byte, pos + 1
    return read_uleb(data, pos)
