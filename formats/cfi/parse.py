"""CIE and FDE records of .eh_frame and .debug_frame (DWARF 2-5 CIE versions, 32- and 64-bit DWARF).

Addresses come out as ELF virtual addresses: pc-relative pointers are resolved against the
section's sh_addr, as readelf does.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from ..errors import FormatError, TruncatedError, parsing
from ..leb128 import read_sleb, read_uleb
from .constants import DW_EH_PE

if TYPE_CHECKING:
    from ..elf import ElfFile
    from ..files import View

MASK64 = (1 << 64) - 1
DW_CIE_ID = 0xFFFFFFFF
DW64_CIE_ID = 0xFFFFFFFFFFFFFFFF
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_FIXED = {0x02: (2, False), 0x03: (4, False), 0x04: (8, False), 0x0A: (2, True), 0x0B: (4, True), 0x0C: (8, True)}


@dataclass(frozen=True, slots=True)
class Cie:
    """A Common Information Entry: code/data factors, return-address column, augmentation, initial instructions."""

    offset: int
    length: int
    cie_id: int
    offset_size: int
    version: int
    augmentation: str
    address_size: int
    segment_size: int
    code_align: int
    data_align: int
    ra_register: int
    augmentation_data: bytes
    fde_encoding: int
    lsda_encoding: int
    personality: int | None
    signal_frame: bool
    instructions: bytes
    instructions_offset: int


@dataclass(frozen=True, slots=True)
class Fde:
    """A Frame Description Entry: the address range [pc_begin, pc_begin + pc_range) and its instructions."""

    offset: int
    length: int
    cie_id: int
    offset_size: int
    cie: Cie | None
    pc_begin: int
    pc_range: int
    augmentation_data: bytes
    lsda: int | None
    segment_selector: int
    instructions: bytes
    instructions_offset: int

    @property
    def pc_end(self) -> int:
        return (self.pc_begin + self.pc_range) & MASK64


@dataclass(frozen=True, slots=True)
class Terminator:
    """A zero length word: the end marker of .eh_frame."""

    offset: int


def encoded_size(encoding: int, address_size: int = 8) -> int:
    """Byte size of a fixed-size pointer encoding (0 for LEB128 forms), as readelf's size_of_encoded_value."""
    low = encoding & 0x0F
    if low in _FIXED:
        return _FIXED[low][0]
    return address_size if low in (0x00, 0x08) else 0


def read_encoded(data: View, pos: int, encoding: int, *, address_size: int = 8, pc_base: int = 0,
                 data_base: int = 0, func_base: int = 0, path: str | None = None) -> tuple[int | None, int]:
    """Decode a DW_EH_PE pointer at data[pos]; pc_base is the address of data[0]. Returns (value, next pos)."""
    if encoding == DW_EH_PE.omit:
        return None, pos
    start = pos
    app = encoding & 0x70
    if app == DW_EH_PE.aligned:
        pos = (pos + address_size - 1) & -address_size
    low = encoding & 0x0F
    if low in (0x00, 0x08):
        size, signed = address_size, bool(low & 8)
        if pos + size > len(data):
            raise TruncatedError("encoded pointer runs past the end", path, start)
        value = int.from_bytes(data[pos:pos + size], "little", signed=signed)
        pos += size
    elif low in _FIXED:
        size, signed = _FIXED[low]
        if pos + size > len(data):
            raise TruncatedError("encoded pointer runs past the end", path, start)
        value = int.from_bytes(data[pos:pos + size], "little", signed=signed)
        pos += size
    elif low == 0x01:
        value, pos = read_uleb(data, pos)
    elif low == 0x09:
        value, pos = read_sleb(data, pos)
    else:
        raise FormatError(f"unknown pointer encoding {encoding:#x}", path, start)
    if app == DW_EH_PE.pcrel:
        value += pc_base + start
    elif app == DW_EH_PE.datarel:
        value += data_base
    elif app == DW_EH_PE.funcrel:
        value += func_base
    elif app not in (0, DW_EH_PE.textrel, DW_EH_PE.aligned):
        raise FormatError(f"unknown pointer application {encoding:#x}", path, start)
    return value & MASK64, pos


def _byte(data: bytes | memoryview, at: int, end: int, path: str | None, entry: int) -> int:
    """data[at], which must lie before `end` (the end of the entry or field being read)."""
    if at >= end:
        raise TruncatedError("CIE field runs past the end of its entry or augmentation data", path, entry)
    return data[at]


class CfiSection:
    """One .eh_frame or .debug_frame section: its bytes, load address and flavour; entries parsed on demand."""

    def __init__(self, data: bytes, address: int = 0, *, is_eh: bool = True, path: str | None = None,
                 name: str | None = None, address_size: int = 8):
        self.data = data
        self.address = address
        self.is_eh = is_eh
        self.path = path
        self.name = name or (".eh_frame" if is_eh else ".debug_frame")
        self.address_size = address_size
        self._cies: dict[int, Cie | None] = {}

    @classmethod
    def from_elf(cls, elf: ElfFile, name: str) -> CfiSection | None:
        """The named section of an ElfFile (.eh_frame or .debug_frame); None when absent or NOBITS."""
        from .relocate import relocated_section_bytes

        section = elf.section(name)
        if section is None or section.type == 8:
            return None
        if not elf.is_64:
            from ..errors import NotELFError

            raise NotELFError("call frame information is read from 64-bit ELF files only", elf.path)
        return cls(relocated_section_bytes(elf, section), section.addr, is_eh=name == ".eh_frame",
                   path=elf.path, name=name)

    def __iter__(self) -> Iterator[Cie | Fde | Terminator]:
        """Every entry in section order."""
        pos, end = 0, len(self.data)
        while pos < end:
            entry, pos = self.entry_at(pos)
            yield entry
            if isinstance(entry, Terminator):  # readelf skips runs of zero bytes after a terminator
                while pos < end and self.data[pos] == 0:
                    pos += 1

    @cached_property
    def fdes(self) -> tuple[Fde, ...]:
        return tuple(e for e in self if isinstance(e, Fde))

    def _header(self, pos: int) -> tuple[int, int, int, int, int]:
        """(length, offset size, cie id, position after the id, end of entry)."""
        data, path = self.data, self.path
        with parsing(path, pos, "CFI entry header"):
            length = _U32.unpack_from(data, pos)[0]
            body = pos + 4
            offset_size = 4
            if length == 0xFFFFFFFF:
                length = _U64.unpack_from(data, body)[0]
                body += 8
                offset_size = 8
            if length == 0:
                return 0, offset_size, 0, body, body
            end = body + length
            if end > len(data):
                raise TruncatedError(f"CFI entry length {length:#x} runs past the end of {self.name}", path, pos)
            if length < offset_size:
                raise TruncatedError("CFI entry too short for its CIE pointer", path, pos)
            cie_id = int.from_bytes(data[body:body + offset_size], "little")
        return length, offset_size, cie_id, body + offset_size, end

    def _is_cie_id(self, cie_id: int, offset_size: int) -> bool:
        if self.is_eh:
            return cie_id == 0
        return cie_id == (DW_CIE_ID if offset_size == 4 else DW64_CIE_ID)

    def entry_at(self, pos: int) -> tuple[Cie | Fde | Terminator, int]:
        """The entry starting at section offset `pos`, and the offset of the next one."""
        length, offset_size, cie_id, body, end = self._header(pos)
        if length == 0:
            return Terminator(pos), body
        if self._is_cie_id(cie_id, offset_size):
            return self._cie(pos, length, offset_size, cie_id, body, end), end
        return self._fde(pos, length, offset_size, cie_id, body, end), end

    def cie_at(self, pos: int) -> Cie | None:
        """The CIE at section offset `pos`, or None when there is none."""
        if pos not in self._cies:
            found = None
            if 0 <= pos < len(self.data):
                length, offset_size, cie_id, body, end = self._header(pos)
                if length and self._is_cie_id(cie_id, offset_size):
                    found = self._cie(pos, length, offset_size, cie_id, body, end)
            self._cies[pos] = found
        return self._cies[pos]

    def _cie(self, pos: int, length: int, offset_size: int, cie_id: int, body: int, end: int) -> Cie:
        data, path = self.data, self.path
        with parsing(path, pos, "CIE"):
            version = _byte(data, body, end, path, pos)
            if version not in (1, 2, 3, 4):
                raise FormatError(f"unsupported CIE version {version}", path, pos)
            nul = data.find(b"\0", body + 1, end)
            if nul < 0:
                raise TruncatedError("CIE augmentation string has no NUL terminator", path, pos)
            augmentation = bytes(data[body + 1:nul]).decode("ascii")
            p = nul + 1
            if augmentation == "eh":
                p += self.address_size
            address_size, segment_size = self.address_size, 0
            if version >= 4:
                address_size, segment_size = _byte(data, p, end, path, pos), _byte(data, p + 1, end, path, pos)
                p += 2
                if not 1 <= address_size <= 8 or segment_size + address_size > 8:
                    raise FormatError(f"bad CIE address size {address_size}/{segment_size}", path, pos)
            code_align, p = read_uleb(data, p)
            data_align, p = read_sleb(data, p)
            if version == 1:
                ra_register = _byte(data, p, end, path, pos)
                p += 1
            else:
                ra_register, p = read_uleb(data, p)
            aug_data = b""
            fde_encoding, lsda_encoding, personality, signal = 0, 0xFF, None, False
            if augmentation.startswith("z"):
                size, p = read_uleb(data, p)
                if p + size > end:
                    raise TruncatedError("CIE augmentation data runs past the entry", path, pos)
                aug_data = bytes(data[p:p + size])
                q = p
                p += size
                for letter in augmentation[1:]:  # each operand must lie inside the augmentation data
                    if letter == "L":
                        lsda_encoding = _byte(data, q, p, path, pos)
                        q += 1
                    elif letter == "P":
                        personality, q = read_encoded(data, q + 1, _byte(data, q, p, path, pos),
                                                      address_size=address_size, pc_base=self.address, path=path)
                    elif letter == "R":
                        fde_encoding = _byte(data, q, p, path, pos)
                        q += 1
                    elif letter == "S":
                        signal = True
                    elif letter != "B":
                        break
                if q > p:
                    raise TruncatedError("CIE augmentation runs past its data", path, pos)
            elif augmentation not in ("", "eh"):
                raise FormatError(f"unknown CIE augmentation {augmentation!r}", path, pos)
            if p > end:
                raise TruncatedError("CIE fields run past the entry", path, pos)
        return Cie(pos, length, cie_id, offset_size, version, augmentation, address_size, segment_size,
                   code_align, data_align, ra_register, aug_data, fde_encoding, lsda_encoding, personality,
                   signal, bytes(data[p:end]), p)

    def cie_offset_of(self, pos: int, offset_size: int, cie_id: int) -> int:
        """Section offset of the CIE an FDE at `pos` points to (.eh_frame: relative to the pointer field)."""
        if not self.is_eh:
            return cie_id
        field = pos + (4 if offset_size == 4 else 12)
        sign = 1 << (offset_size * 8 - 1)
        return field - ((cie_id ^ sign) - sign)

    def _fde(self, pos: int, length: int, offset_size: int, cie_id: int, body: int, end: int) -> Fde:
        data, path = self.data, self.path
        cie = self.cie_at(self.cie_offset_of(pos, offset_size, cie_id))
        with parsing(path, pos, "FDE"):
            p = body
            encoding = cie.fde_encoding if cie else 0
            address_size = cie.address_size if cie else self.address_size
            segment = 0
            if cie and cie.segment_size:
                segment = int.from_bytes(data[p:p + cie.segment_size], "little")
                p += cie.segment_size
            pc_begin, p = read_encoded(data, p, encoding, address_size=address_size, pc_base=self.address, path=path)
            range_enc = encoding & 0x0F
            if range_enc in (0x01, 0x09):
                pc_range, p = read_uleb(data, p)
            else:
                size = encoded_size(encoding, address_size)
                if p + size > end:
                    raise TruncatedError("FDE address range runs past the entry", path, pos)
                pc_range = int.from_bytes(data[p:p + size], "little")
                p += size
            aug_data, lsda = b"", None
            if cie and cie.augmentation.startswith("z"):
                size, p = read_uleb(data, p)
                if p + size > end:
                    raise TruncatedError("FDE augmentation data runs past the entry", path, pos)
                aug_data = bytes(data[p:p + size])
                if "L" in cie.augmentation and size and cie.lsda_encoding != DW_EH_PE.omit:
                    lsda, _ = read_encoded(data, p, cie.lsda_encoding, address_size=address_size,
                                           pc_base=self.address, path=path)
                p += size
            if p > end:
                raise TruncatedError("FDE fields run past the entry", path, pos)
        return Fde(pos, length, cie_id, offset_size, cie, pc_begin or 0, pc_range, aug_data, lsda, segment,
                   bytes(data[p:end]), p)
