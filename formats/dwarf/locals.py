"""The local variables of the function at an address, as llvm-symbolizer 14 answers a FRAME request.

LLVM 14's DWARFContext::getLocalsForAddress takes the innermost subroutine DIE covering the address
(DWARFUnit::getSubroutineForAddress: a subprogram or an inlined subroutine, in the unit the
address belongs to) and walks its subtree (addLocalsForDie): every DW_TAG_variable and
DW_TAG_formal_parameter gives one record, and below a DW_TAG_inlined_subroutine the records name
the inlined function.  Per variable: the function's DW_AT_name, the frame offset of the first
location expression that is `DW_OP_fbreg N` (or `DW_OP_bregR N` where the function's frame base
is `DW_OP_regR`), optionally followed by DW_OP_deref; DW_AT_LLVM_tag_offset; and, from the
variable's DW_AT_abstract_origin when it has one, its DW_AT_name, the size of its DW_AT_type
(getTypeSize), DW_AT_decl_file (an index into the line table of the address's unit) and
DW_AT_decl_line.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..errors import FormatError
from .constants import DW_AT, DW_FORM, DW_TAG
from .dies import Attr, Attrs, UnitContext, _uleb, decode_fields
from .forms import BLOCK_FORMS
from .info import UnitFunctions, scan_units
from .loclists import debug_loc_expressions, loclist_offset, loclists_expressions
from .names import ALT_TAG, DieResolver
from .units import DwarfSections, iter_unit_headers

_OP_REG0, _OP_REG31, _OP_BREG0, _OP_FBREG, _OP_DEREF = 0x50, 0x6F, 0x70, 0x91, 0x06
_MASK = (1 << 64) - 1
_MAX_TYPE_DEPTH = 64  # typedef/const chains longer than this are cycles in corrupt input
_UNSIGNED = frozenset({DW_FORM.data1, DW_FORM.data2, DW_FORM.data4, DW_FORM.data8, DW_FORM.udata,
                       DW_FORM.implicit_const, DW_FORM.flag, DW_FORM.flag_present})
_SIGNED_WIDTH: dict[int, int] = {DW_FORM.data1: 8, DW_FORM.data2: 16, DW_FORM.data4: 32, DW_FORM.data8: 64}
_POINTER_TAGS = frozenset({DW_TAG.pointer_type, DW_TAG.reference_type, DW_TAG.rvalue_reference_type})
_QUALIFIER_TAGS = frozenset({DW_TAG.const_type, DW_TAG.volatile_type, DW_TAG.restrict_type, DW_TAG.typedef})
_VARIABLE_TAGS = frozenset({DW_TAG.variable, DW_TAG.formal_parameter})


@dataclass(frozen=True, slots=True)
class Local:
    """One DILocal of LLVM 14: what a FRAME answer prints for a variable (None: LLVM's unset optional)."""

    function: str | None  # DW_AT_name of the (inlined) function, through origin/specification
    name: str | None
    decl_file: int | None  # index into the line table of the unit the address belongs to
    decl_line: int
    frame_offset: int | None
    size: int | None
    tag_offset: int | None


@dataclass(frozen=True, slots=True)
class LocationSections:
    """The location-list sections (read only for FRAME requests, so not part of DwarfSections)."""

    loc: bytes = b""
    loclists: bytes = b""


class FrameLocals:
    """FRAME answers over one file's DWARF: unit headers parsed once, each unit's subroutine map scanned on its
    first request and kept (a bounded LRU of `units` units)."""

    def __init__(self, sections: DwarfSections, locations: LocationSections = LocationSections(), units: int = 64):
        from cachetools import LRUCache

        self.sections = sections
        self.headers = list(iter_unit_headers(sections.info, sections.path, []))
        self._offsets = {h.offset for h in self.headers}
        self._units: LRUCache[int, UnitFunctions | None] = LRUCache(units)
        pointer_size = self.headers[0].address_size if self.headers else 8
        self._walker = _Walker(DieResolver(sections, self.headers, skip_types=False), locations, pointer_size)

    def at(self, unit_offset: int, address: int) -> list[Local]:
        """The locals of the innermost subroutine covering `address` in the unit at `unit_offset`, in DIE order.

        A unit that cannot be decoded has none (scan_units warns about it, as the index build did).
        """
        if unit_offset not in self._offsets:
            return []
        if unit_offset not in self._units:
            self._units[unit_offset] = next(iter(scan_units(self.sections, offsets=(unit_offset,))), None)
        funcs = self._units[unit_offset]
        if funcs is None:
            return []
        index = funcs.innermost(address)
        if index is None:
            return []
        try:
            return self._walker.locals(funcs.subroutines[index].die_offset)
        except FormatError:
            return []


class _Walker:
    def __init__(self, resolver: DieResolver, locations: LocationSections, pointer_size: int):
        self.resolver = resolver
        self.locations = locations
        self.pointer_size = pointer_size  # LLVM's getCUAddrSize: the first unit's address size

    def locals(self, root: int) -> list[Local]:
        """addLocalsForDie(CU, root, root) without recursion: pre-order, a variable's subtree skipped."""
        found = self.resolver.die(root)
        if found is None:
            return []
        ctx = found[0]
        out: list[Local] = []
        # scopes[d]: the DIE whose name and frame base the variables at depth d + 1 report
        scopes: list[int] = []
        skip_below: int | None = None
        for depth, _, tag, attrs in _subtree(ctx, root & ~ALT_TAG):
            del scopes[depth:]
            if skip_below is not None:
                if depth > skip_below:
                    continue
                skip_below = None
            parent_scope = scopes[depth - 1] if depth else root
            if tag in _VARIABLE_TAGS and depth:
                out.append(self._local(ctx, parent_scope, attrs))
                skip_below = depth
                scopes.append(parent_scope)
                continue
            scope = parent_scope
            if tag == DW_TAG.inlined_subroutine:
                origin = self.resolver.reference(ctx, attrs.get(DW_AT.abstract_origin))
                if origin is not None and self.resolver.die(origin) is not None:
                    scope = origin
            scopes.append(scope)
        return out

    def _local(self, ctx: UnitContext, scope: int, attrs: Attrs) -> Local:
        function, frame_reg = self._scope(scope)
        frame_offset = None
        for expression in self._expressions(ctx, attrs.get(DW_AT.location)) or ():
            frame_offset = expression_frame_offset(expression, frame_reg)
            if frame_offset is not None:
                break
        tag_offset = _unsigned(attrs.get(DW_AT.LLVM_tag_offset))
        decl_ctx = ctx
        origin = self.resolver.reference(ctx, attrs.get(DW_AT.abstract_origin))
        if origin is not None:
            found = self.resolver.die(origin)
            if found is not None:
                decl_ctx, attrs = found[0], found[3]
        name = decl_ctx.string(attrs.get(DW_AT.name))
        size = None
        type_ref = self.resolver.reference(decl_ctx, attrs.get(DW_AT.type))
        if type_ref is not None:
            size = self._type_size(type_ref, 0)
        decl_line = _unsigned(attrs.get(DW_AT.decl_line))
        return Local(function, name if isinstance(name, str) else None, _unsigned(attrs.get(DW_AT.decl_file)),
                     decl_line or 0, frame_offset, size, tag_offset)

    def _scope(self, offset: int) -> tuple[str | None, int | None]:
        """(getSubroutineName(ShortName), frame-base register) of the scope DIE."""
        found = self.resolver.die(offset)
        if found is None:
            return None, None
        _, tag, _, attrs, _ = found
        name = None
        if tag in (DW_TAG.subprogram, DW_TAG.inlined_subroutine):
            name = self.resolver.subroutine_names(offset)[1]
        frame_reg = None
        base = attrs.get(DW_AT.frame_base)
        expr = None if base is None or base[0] not in BLOCK_FORMS else base[1]
        if isinstance(expr, bytes) and expr and _OP_REG0 <= expr[0] <= _OP_REG31:  # a block form holds bytes
            frame_reg = expr[0] - _OP_REG0
        return (name if isinstance(name, str) else None), frame_reg

    def _expressions(self, ctx: UnitContext, item: Attr | None) -> list[bytes] | None:
        """DWARFDie::getLocations: the expression of an exprloc/block, the expressions of a location list;
        None when absent or unreadable (LLVM drops the error)."""
        if item is None:
            return None
        form, value = item
        if form in BLOCK_FORMS:
            return [bytes(value)]
        if not isinstance(value, int) or form not in (DW_FORM.sec_offset, DW_FORM.loclistx, DW_FORM.data4,
                                                       DW_FORM.data8):
            return None
        if form in (DW_FORM.data4, DW_FORM.data8) and ctx.enc.version > 3:
            return None  # a constant, not a section offset, from DWARF 4 on
        enc = ctx.enc
        try:
            if enc.version >= 5:
                data = self.locations.loclists
                offset = value
                if form == DW_FORM.loclistx:
                    if ctx.loclists_base is None:
                        return None
                    found = loclist_offset(data, ctx.loclists_base, value, enc.offset_size)
                    if found is None:
                        return None
                    offset = found
                return loclists_expressions(data, offset, enc.version, enc.address_size, ctx.base_address,
                                            ctx.pooled_address, ctx.sections.path)
            return debug_loc_expressions(self.locations.loc, value, enc.address_size, ctx.base_address,
                                         ctx.sections.path)
        except FormatError:
            return None

    def _type_size(self, offset: int, depth: int) -> int | None:
        """LLVM 14's getTypeSize (DWARFContext.cpp): DW_AT_byte_size, else by tag."""
        found = self.resolver.die(offset)
        if found is None or depth > _MAX_TYPE_DEPTH:
            return None
        ctx, tag, has_children, attrs, end = found
        size = _unsigned(attrs.get(DW_AT.byte_size))
        if size is not None:
            return size
        base = self.resolver.reference(ctx, attrs.get(DW_AT.type))
        if tag in _POINTER_TAGS:
            return self.pointer_size
        if tag == DW_TAG.ptr_to_member_type:
            target = self.resolver.die(base) if base is not None else None
            return 2 * self.pointer_size if target is not None and target[1] == DW_TAG.subroutine_type \
                else self.pointer_size
        if tag in _QUALIFIER_TAGS:
            return self._type_size(base, depth + 1) if base is not None else None
        if tag != DW_TAG.array_type or base is None:
            return None
        size = self._type_size(base, depth + 1)
        if size is None:
            return None
        if not has_children:
            return size
        for child_depth, _, child_tag, child in _subtree(ctx, offset & ~ALT_TAG):
            if child_depth != 1 or child_tag != DW_TAG.subrange_type:
                continue
            count = _unsigned(child.get(DW_AT.count))
            if count is not None:
                size = size * count & _MASK
            upper = _signed(child.get(DW_AT.upper_bound))
            if upper is not None:
                lower = _signed(child.get(DW_AT.lower_bound)) or 0
                size = size * ((upper - lower + 1) & _MASK) & _MASK
        return size


def _subtree(ctx: UnitContext, offset: int) -> Iterator[tuple[int, int, int, Attrs]]:
    """(depth, offset, tag, attributes) of the DIE at `offset` and every DIE below it, in DIE order.

    The walk ends at the DIE's closing null entry or at the end of its unit (LLVM stops there too).
    """
    data = ctx.sections.info
    end = ctx.header.end
    pos = offset
    depth = 0
    while pos < end:
        at = pos
        code, pos = _uleb(data, pos)
        if code == 0:
            depth -= 1
            if depth <= 0:
                return
            continue
        entry = ctx.abbrev(code, at)
        attrs, pos = decode_fields(data, pos, entry[6], ctx.enc)
        yield depth, at, entry[7], attrs
        if entry[1]:
            depth += 1
        elif depth == 0:
            return


def expression_frame_offset(expression: bytes, frame_reg: int | None) -> int | None:
    """LLVM 14 getExpressionFrameOffset: N of `DW_OP_fbreg N` / `DW_OP_breg<frame_reg> N` [DW_OP_deref]."""
    if not expression:
        return None
    op = expression[0]
    if op != _OP_FBREG and (frame_reg is None or op != _OP_BREG0 + frame_reg):
        return None
    value, count = _sleb(expression, 1)
    if len(expression) == count + 1:
        return value
    if len(expression) == count + 2 and expression[count + 1] == _OP_DEREF:
        return value
    return None


def _sleb(data: bytes, pos: int) -> tuple[int, int]:
    """LLVM's decodeSLEB128 from `pos`: (value, bytes read); (0, bytes up to the end) when it runs out."""
    value = shift = 0
    start = pos
    while True:
        if pos >= len(data):
            return 0, pos - start
        byte = data[pos]
        pos += 1
        if shift < 64:
            value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            break
    value &= _MASK
    if shift < 64 and byte & 0x40:
        value |= _MASK & ~((1 << shift) - 1)
    return (value - (1 << 64) if value >> 63 else value), pos - start


def _unsigned(item: Attr | None) -> int | None:
    """getAsUnsignedConstant: constant and flag forms but sdata; None otherwise."""
    if item is None or item[0] not in _UNSIGNED:
        return None
    value = item[1]
    return value & _MASK if isinstance(value, int) else None


def _signed(item: Attr | None) -> int | None:
    """getAsSignedConstant: data1/2/4 sign-extended at their width, sdata/data8 as int64, udata up to INT64_MAX."""
    if item is None:
        return None
    form, value = item
    if not isinstance(value, int):
        return None
    if form == DW_FORM.sdata or form == DW_FORM.implicit_const:
        return value
    if form == DW_FORM.udata:
        return value if value <= (1 << 63) - 1 else None
    width = _SIGNED_WIDTH.get(form)
    if width is not None:
        value &= (1 << width) - 1
        return value - (1 << width) if value >> (width - 1) else value
    if form in (DW_FORM.flag, DW_FORM.flag_present):
        return int(value)
    return None


__all__ = ["FrameLocals", "Local", "LocationSections", "expression_frame_offset"]
