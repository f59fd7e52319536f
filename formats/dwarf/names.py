"""Subroutine names and declaration lines through DW_AT_abstract_origin / DW_AT_specification (LLVM findRecursively)."""

from __future__ import annotations

import struct
from bisect import bisect_right
from typing import Final, Literal, TypeAlias, overload

from ..errors import FormatError
from .constants import DW_AT, DW_FORM
from .dies import BAD, AbbrevCache, Attr, Attrs, Bad, UnitContext, _uleb, decode_fields, unsigned
from .forms import UNIT_REF_FORMS
from .units import DwarfSections, UnitHeader, iter_unit_headers

# DieInfo tuple slots: what findRecursively looks at in one DIE.
MIPS: Final = 0  # DW_AT_MIPS_linkage_name
LINKAGE: Final = 1  # DW_AT_linkage_name
NAME: Final = 2  # DW_AT_name
DECL_LINE: Final = 3  # DW_AT_decl_line
ORIGIN: Final = 4  # DW_AT_abstract_origin, as a DIE offset
SPEC: Final = 5  # DW_AT_specification, as a DIE offset
DECL_FILE: Final = 6  # DW_AT_decl_file (BAD for an implicit_const one)
DieInfo: TypeAlias = ("tuple[str | Bad | None, str | Bad | None, str | Bad | None, int | None, int | None, "
                      "int | None, int | Bad | None]")
_StringSlot: TypeAlias = "Literal[0, 1, 2]"
_NumberSlot: TypeAlias = "Literal[3, 6]"  # DECL_LINE, DECL_FILE
# DIE (and unit) offsets in the dwz alternate / supplementary file carry this bit, so one integer
# names a DIE in either file (.debug_info offsets stay far below it).
ALT_TAG = 1 << 62
_ALT_REF_FORMS = frozenset({DW_FORM.GNU_ref_alt, DW_FORM.ref_sup4, DW_FORM.ref_sup8})


class DieResolver:
    """Reads single DIEs on demand anywhere in .debug_info (cross-unit DW_FORM_ref_addr too), cached by offset.

    References into the dwz alternate file (DW_FORM_GNU_ref_alt, DW_FORM_ref_sup4/8) are followed
    through a second resolver over `sections.alt`, whose offsets carry ALT_TAG (`tag`).
    """

    def __init__(self, sections: DwarfSections, headers: list[UnitHeader], skip_types: bool = True,
                 abbrev_cache: AbbrevCache | None = None, tag: int = 0):
        self.sections = sections
        self.tag = tag
        self._alt: DieResolver | None = None
        self.headers = headers
        self._starts = [h.offset for h in headers]
        self.skip_types = skip_types
        self.abbrev_cache: AbbrevCache = abbrev_cache if abbrev_cache is not None else {}
        self.contexts: dict[int, UnitContext | None] = {}
        self.infos: dict[int, DieInfo | None] = {}

    def context(self, header: UnitHeader) -> UnitContext:
        """The (cached) decoding context of a unit; FormatError when its abbreviations or unit DIE are bad."""
        ctx = self.contexts.get(header.offset)
        if ctx is None:
            ctx = UnitContext(self.sections, header, self.skip_types, self.abbrev_cache)
            self.contexts[header.offset] = ctx
        return ctx

    def alt_resolver(self) -> DieResolver | None:
        """The resolver of the alternate file's DIEs (built on first use), None when there is none."""
        alt = self.sections.alt
        if alt is None or self.tag:
            return None
        if self._alt is None:
            headers = list(iter_unit_headers(alt.info, alt.path, []))
            self._alt = DieResolver(alt, headers, self.skip_types, {}, ALT_TAG)
        return self._alt

    def unit_of(self, offset: int) -> int | None:
        """Offset (ALT_TAG set in the alternate file) of the unit holding the DIE at `offset`."""
        if offset & ALT_TAG and not self.tag:
            alt = self.alt_resolver()
            return None if alt is None else alt.unit_of(offset)
        header = self._header_for(offset & ~ALT_TAG)
        return None if header is None else self.tag | header.offset

    def _header_for(self, offset: int) -> UnitHeader | None:
        i = bisect_right(self._starts, offset) - 1
        if i < 0:
            return None
        header = self.headers[i]
        return header if header.die_offset <= offset < header.end else None

    def make_info(self, ctx: UnitContext, attrs: Attrs) -> DieInfo:
        """The findRecursively view of one decoded DIE."""
        decl = attrs.get(DW_AT.decl_line)
        decl_item = attrs.get(DW_AT.decl_file)
        decl_file: int | Bad | None = None
        if decl_item is not None:
            # LLVM 14 finds an implicit_const decl_file but reads it as no value: keep it as BAD
            decl_file = BAD if decl_item[0] == DW_FORM.implicit_const else unsigned(decl_item)
        return (ctx.string(attrs.get(DW_AT.MIPS_linkage_name)), ctx.string(attrs.get(DW_AT.linkage_name)),
                ctx.string(attrs.get(DW_AT.name)), None if decl is None else unsigned(decl),
                self._reference(ctx, attrs.get(DW_AT.abstract_origin)),
                self._reference(ctx, attrs.get(DW_AT.specification)), decl_file)

    def _reference(self, ctx: UnitContext, item: Attr | None) -> int | None:
        if item is None:
            return None
        value: int  # for the reference forms below (forms.read_value gives bytes only for blocks and strings)
        form, value = item  # type: ignore[assignment]
        if form in UNIT_REF_FORMS:
            target = ctx.header.offset + value
            return self.tag | target if target < ctx.header.end else None
        if form == DW_FORM.ref_addr:
            return self.tag | value
        if form in _ALT_REF_FORMS and not self.tag and self.sections.alt is not None:
            return ALT_TAG | value
        return None  # ref_sig8, or an alternate-file reference with no alternate file

    def reference(self, ctx: UnitContext, item: Attr | None) -> int | None:
        """The DIE offset a reference attribute of a DIE in `ctx` names (LLVM getAttributeValueAsReferencedDie)."""
        return self._reference(ctx, item)

    def die(self, offset: int) -> tuple[UnitContext, int, bool, Attrs, int] | None:
        """(unit context, tag, has children, attributes, offset after them) of the DIE at `offset`, None when no
        valid DIE is there; alternate-file offsets are read through the alternate file's resolver."""
        if offset & ALT_TAG and not self.tag:
            alt = self.alt_resolver()
            return None if alt is None else alt.die(offset)
        header = self._header_for(offset & ~ALT_TAG)
        if header is None:
            return None
        try:
            ctx = self.context(header)
            data = self.sections.info
            code, pos = _uleb(data, offset & ~ALT_TAG)
            if not code:
                return None
            entry = ctx.abbrev(code, offset)
            attrs, pos = decode_fields(data, pos, entry[6], ctx.enc)
        except (FormatError, struct.error):
            return None
        return ctx, entry[7], entry[1], attrs, pos

    def info(self, offset: int) -> DieInfo | None:
        """The DieInfo of the DIE at `offset`, or None when no valid DIE is there (cached)."""
        if offset & ALT_TAG and not self.tag:
            alt = self.alt_resolver()
            return None if alt is None else alt.info(offset)
        if offset in self.infos:
            return self.infos[offset]
        found: DieInfo | None = None
        header = self._header_for(offset & ~ALT_TAG)
        if header is not None:
            try:
                ctx = self.context(header)
                data = self.sections.info
                code, pos = _uleb(data, offset & ~ALT_TAG)
                if code:
                    entry = ctx.abbrev(code, offset)
                    attrs, _ = decode_fields(data, pos, entry[6], ctx.enc)
                    found = self.make_info(ctx, attrs)
            except (FormatError, struct.error):
                found = None
        self.infos[offset] = found
        return found

    @overload
    def find_recursively(self, offset: int, slots: tuple[_StringSlot, ...]) -> str | Bad | None: ...
    @overload
    def find_recursively(self, offset: int, slots: tuple[Literal[3]]) -> int | None: ...  # DECL_LINE is never BAD
    @overload
    def find_recursively(self, offset: int, slots: tuple[_NumberSlot, ...]) -> int | Bad | None: ...

    def find_recursively(self, offset: int, slots: tuple[_StringSlot, ...] | tuple[_NumberSlot, ...]) \
            -> str | int | Bad | None:
        """LLVM DWARFDie::findRecursively: first of `slots` present in the DIE, then origin/specification DIEs."""
        return self.find_recursively_at(offset, slots)[0]

    @overload
    def find_recursively_at(self, offset: int, slots: tuple[_StringSlot, ...]) \
            -> tuple[str | Bad | None, int | None]: ...
    @overload
    def find_recursively_at(self, offset: int, slots: tuple[_NumberSlot, ...]) \
            -> tuple[int | Bad | None, int | None]: ...

    def find_recursively_at(self, offset: int, slots: tuple[_StringSlot, ...] | tuple[_NumberSlot, ...]) \
            -> tuple[str | int | Bad | None, int | None]:
        """find_recursively's value and the offset of the DIE that holds it (None, None when absent)."""
        worklist = [offset]
        seen = {offset}
        infos = self.infos
        while worklist:
            current = worklist.pop()
            info = infos[current] if current in infos else self.info(current)
            if info is None:
                continue
            for slot in slots:
                if info[slot] is not None:
                    return info[slot], current
            origin, spec = info[ORIGIN], info[SPEC]
            if origin is not None and origin not in seen and self.info(origin) is not None:
                seen.add(origin)
                worklist.append(origin)
            if spec is not None and spec not in seen and self.info(spec) is not None:
                seen.add(spec)
                worklist.append(spec)
        return None, None

    def subroutine_name(self, offset: int) -> str | None:
        """getSubroutineName(LinkageName): linkage name (MIPS first) else DW_AT_name, through origins."""
        return self.subroutine_names(offset)[0]

    def subroutine_names(self, offset: int) -> tuple[str | None, str | None]:
        """(getSubroutineName(LinkageName), getSubroutineName(ShortName)): the second is DW_AT_name alone."""
        linkage = self.find_recursively(offset, (MIPS, LINKAGE))
        short = self.find_recursively(offset, (NAME,))
        short = None if short is BAD else short
        if linkage is None or linkage is BAD:
            return short, short
        return linkage, short

    def decl_file(self, offset: int) -> int | None:
        """File index llvm-symbolizer 14 reports as StartFileName: findRecursively(DW_AT_decl_file).

        An implicit_const value ends the search with no value, as LLVM 14's toUnsigned reads it.
        """
        found = self.find_recursively(offset, (DECL_FILE,))
        return None if found is None or found is BAD else found

    def decl_file_unit(self, offset: int) -> tuple[int | None, int | None]:
        """(file index, offset of the unit that owns the DIE holding DW_AT_decl_file).

        The index means an entry of *that* unit's line table (LLVM's getAsFile reads the form
        value's own unit): with LTO or dwz the declaration often sits in another unit.
        """
        found, holder = self.find_recursively_at(offset, (DECL_FILE,))
        if found is None or found is BAD or holder is None:
            return None, None
        return found, self.unit_of(holder)

    def decl_line(self, offset: int) -> int:
        """getDeclLine(): findRecursively(DW_AT_decl_line) as unsigned, 0 when absent."""
        line = self.find_recursively(offset, (DECL_LINE,))
        return 0 if line is None else line
