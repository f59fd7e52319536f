"""Where a dwz-compressed file's shared DIEs live: `.gnu_debugaltlink` (GNU) and `.debug_sup` (DWARF 5).

dwz moves DIEs shared by several units (or, with `dwz -m`, several binaries) into partial units
of an alternate ("supplementary") file.  The binary names that file and its build-id:

- `.gnu_debugaltlink`: the file name (NUL-terminated), then the alt file's build-id;
- `.debug_sup` (DWARF 5 section 7.3.6): version (2 bytes, 5), is_supplementary (1 byte), the file
  name (NUL-terminated), checksum length (ULEB128) and checksum (dwz writes the build-id).  The
  supplementary file itself carries a `.debug_sup` with is_supplementary = 1 and no name.

References into the alt file are `DW_FORM_GNU_ref_alt` / `DW_FORM_ref_sup4/8` (offsets in its
.debug_info) and `DW_FORM_GNU_strp_alt` / `DW_FORM_strp_sup` (offsets in its .debug_str).
"""

# Annotations are evaluated at import (no `from __future__ import annotations`): typing compiles the
# string annotation of every NamedTuple field, ~0.5 M instructions each (NOTES.md, issue 16).

from typing import NamedTuple, Protocol

from ..errors import FormatError, TruncatedError
from ..leb128 import read_uleb

_MAX_CHECKSUM = 1 << 10  # a build-id is 20 bytes; anything past this is corrupt


class _SectionSource(Protocol):
    path: str | None

    def section_bytes(self, name: str) -> bytes | None: ...


class AltLink(NamedTuple):
    """A binary's link to its dwz alternate file: the name as written and the identity it must have."""

    name: str
    build_id: bytes
    section: str  # ".gnu_debugaltlink" or ".debug_sup"
    is_supplementary: bool = False  # a `.debug_sup` of the supplementary file itself (its own identity)


def parse_gnu_debugaltlink(data: bytes, path: str | None = None) -> AltLink:
    """Decode the contents of `.gnu_debugaltlink`."""
    end = data.find(b"\0")
    if end < 0:
        raise TruncatedError(".gnu_debugaltlink has no terminating NUL", path, 0)
    return AltLink(data[:end].decode("utf-8", "surrogateescape"), bytes(data[end + 1:]), ".gnu_debugaltlink")


def parse_debug_sup(data: bytes, path: str | None = None) -> AltLink:
    """Decode `.debug_sup` (in the supplementary file itself: is_supplementary, its own checksum)."""
    if len(data) < 4:
        raise TruncatedError(".debug_sup is shorter than its header", path, 0)
    version = int.from_bytes(data[0:2], "little")
    if version not in (2, 5):  # dwz 0.14 wrote 2 before the standard settled on 5
        raise FormatError(f".debug_sup version {version} is not supported", path, 0)
    end = data.find(b"\0", 3)
    if end < 0:
        raise TruncatedError(".debug_sup file name has no terminating NUL", path, 3)
    if not any(byte < 0x80 for byte in data[end + 1:end + 11]):
        raise TruncatedError(".debug_sup checksum length runs past the section", path, end + 1)
    length, pos = read_uleb(data, end + 1)
    if length > _MAX_CHECKSUM or pos + length > len(data):
        raise TruncatedError(f".debug_sup checksum of {length} bytes runs past the section", path, end + 1)
    return AltLink(data[3:end].decode("utf-8", "surrogateescape"), bytes(data[pos:pos + length]), ".debug_sup",
                   bool(data[2]))


def read_alt_link(elf: _SectionSource) -> AltLink | None:
    """The alt-file link of an ELF file (`.gnu_debugaltlink` first, then `.debug_sup`), None when it has none."""
    raw = elf.section_bytes(".gnu_debugaltlink")
    if raw:
        return parse_gnu_debugaltlink(raw, elf.path)
    raw = elf.section_bytes(".debug_sup")
    if raw:
        link = parse_debug_sup(raw, elf.path)
        return None if link.is_supplementary else link
    return None


def supplementary_identity(elf: _SectionSource) -> bytes | None:
    """The checksum a supplementary file's own `.debug_sup` states (dwz -5 multifiles have no build-id note)."""
    raw = elf.section_bytes(".debug_sup")
    if not raw:
        return None
    link = parse_debug_sup(raw, elf.path)
    return link.build_id if link.is_supplementary else None
