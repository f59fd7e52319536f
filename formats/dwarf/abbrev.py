"""The .debug_abbrev table: per abbreviation code, the tag, the children flag and the (attribute, form) list."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import FormatError, TruncatedError, parsing
from ..leb128 import read_sleb, read_uleb
from .constants import DW_FORM


@dataclass(frozen=True, slots=True)
class AttrSpec:
    """One attribute of an abbreviation; `implicit` is the DW_FORM_implicit_const value (else 0)."""

    attr: int
    form: int
    implicit: int = 0


@dataclass(frozen=True, slots=True)
class Abbrev:
    """One abbreviation declaration."""

    code: int
    tag: int
    has_children: bool
    attrs: tuple[AttrSpec, ...]


# A table bigger than this many declarations is treated as corrupt (bounds the work on garbage input).
MAX_ABBREVS = 1 << 20


def parse_abbrev_table(data: bytes, offset: int, path: str | None = None) -> dict[int, Abbrev]:
    """Decode the abbreviation table starting at `offset` (up to its terminating 0 code)."""
    table: dict[int, Abbrev] = {}
    pos = offset
    if offset >= len(data):
        raise FormatError(f"abbreviation offset {offset:#x} is past the end of .debug_abbrev", path, offset)
    with parsing(path, offset, ".debug_abbrev table"):
        while True:
            start = pos
            code, pos = read_uleb(data, pos)
            if code == 0:
                return table
            tag, pos = read_uleb(data, pos)
            if pos >= len(data):
                raise TruncatedError("abbreviation runs past the end of .debug_abbrev", path, start)
            has_children = data[pos] != 0
            pos += 1
            attrs = []
            while True:
                attr, pos = read_uleb(data, pos)
                form, pos = read_uleb(data, pos)
                if attr == 0 and form == 0:
                    break
                implicit = 0
                if form == DW_FORM.implicit_const:
                    implicit, pos = read_sleb(data, pos)
                attrs.append(AttrSpec(attr, form, implicit))
            if code in table:
                raise FormatError(f"duplicate abbreviation code {code}", path, start)
            table[code] = Abbrev(code, tag, has_children, tuple(attrs))
            if len(table) > MAX_ABBREVS:
                raise FormatError("abbreviation table too large", path, offset)
