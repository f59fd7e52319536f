"""An ELF file's ORC table: .orc_unwind + .orc_unwind_ip (+ .rela.orc_unwind_ip in .o/.ko), layout and lookup.

In a linked file (vmlinux, an executable linked from objtool-processed objects) each .orc_unwind_ip
slot holds `ip - &slot`; in a relocatable file the slots are zero and an R_X86_64_PC32 relocation
names the ip as symbol + addend.  Linked tables arrive in link order, not sorted: `OrcIndex` sorts.
"""

from __future__ import annotations

import bisect
import hashlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from .. import decompress
from ..elf import ElfFile, Section, SectionType
from ..errors import FormatError
from ..relocations import RELA_SIZE, read_relocations
from ..symtab import symbols_in
from .entry import ENTRY, ENTRY_SIZE, OrcEntry, OrcLayout, OrcType

MASK = (1 << 64) - 1
_IP = struct.Struct("<i")
STT_SECTION = 3
R_X86_64_PC32, R_X86_64_PLT32 = 2, 4

# .orc_header (v6.4+) is sha1 of the ORC_REG/ORC_TYPE defines and struct orc_entry (scripts/orc_hash.sh).
KNOWN_HEADERS: dict[bytes, str] = {
    bytes.fromhex("fe5d32bf581bd63b2ca9a5c65ba5a625eab3fe24"): "6.4-6.12",
}


@dataclass(frozen=True, slots=True)
class OrcRow:
    """One table slot: where it applies and the entry.

    Linked files: `address` is the ELF virtual address.  Relocatable files: `address` is the offset
    inside section `section`, and `symbol` + `addend` is the relocation objtool prints.
    """

    address: int
    entry: OrcEntry
    section: int | None = None
    symbol: str | None = None
    addend: int = 0


@dataclass(frozen=True, slots=True)
class OrcRelocation:
    """Where a relocatable file's slot points: section index, the symbol name objtool prints, addend."""

    section: int
    symbol: str
    addend: int


@dataclass(frozen=True, slots=True)
class OrcTable:
    """Every slot of one file in table order (parallel tuples, cheap for a kernel's 400k slots)."""

    path: str | None
    layout: OrcLayout
    layout_source: str  # "header", "explicit" or "guess"
    header: bytes | None
    addresses: tuple[int, ...]
    entries: tuple[OrcEntry, ...]
    relocations: tuple[OrcRelocation, ...] | None = None

    @property
    def relocatable(self) -> bool:
        return self.relocations is not None

    @property
    def rows(self) -> tuple[OrcRow, ...]:
        """The slots as OrcRow records (built on each access)."""
        if self.relocations is None:
            return tuple(OrcRow(a, e) for a, e in zip(self.addresses, self.entries))
        return tuple(OrcRow(a, e, r.section, r.symbol, r.addend)
                     for a, e, r in zip(self.addresses, self.entries, self.relocations))

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def header_known(self) -> str | None:
        """The kernel range whose orc_types.h hashes to .orc_header, if we know it."""
        return KNOWN_HEADERS.get(self.header) if self.header else None

    def index(self) -> "OrcIndex":
        return OrcIndex(self)


def is_terminator(entry: OrcEntry) -> bool:
    """The "weak" end-of-section entry objtool writes after each object's code (sp:(und), not end)."""
    if entry.layout == OrcLayout.V6_4:
        return entry.type == OrcType.UNDEFINED
    return entry.sp_reg == 0 and not entry.end


class OrcIndex:
    """Slots sorted by address (per section for relocatable files); entry i covers [ip_i, ip_i+1).

    Like the kernel's orc_sort_cmp, a terminator sorts before a real entry at the same address, so
    that the lookup (last row <= address) finds the real one where two objects meet after linking.
    """

    __slots__ = ("_starts", "_entries")

    def __init__(self, table: OrcTable):
        addresses, entries = table.addresses, table.entries
        sections = [r.section for r in table.relocations] if table.relocations is not None else [None] * len(entries)
        real = {e: not is_terminator(e) for e in set(entries)}
        order = sorted(range(len(entries)), key=lambda i: (sections[i] or 0, addresses[i], real[entries[i]]))
        self._starts: dict[int | None, list[int]] = {}
        self._entries: dict[int | None, list[OrcEntry]] = {}
        for i in order:
            section = sections[i]
            if section not in self._starts:
                self._starts[section], self._entries[section] = [], []
            self._starts[section].append(addresses[i])
            self._entries[section].append(entries[i])

    def find(self, address: int, section: int | None = None) -> tuple[int, OrcEntry] | None:
        """(start address, entry) of the row covering `address`, None before the first row."""
        starts = self._starts.get(section)
        if not starts:
            return None
        i = bisect.bisect_right(starts, address) - 1
        return None if i < 0 else (starts[i], self._entries[section][i])


def guess_layout(bits_words: Iterable[int]) -> OrcLayout:
    """<= 6.2 or >= 6.4 from the entries: a CALL with a defined sp_reg is raw type 0 in the old layout, 2 in the new."""
    old = new = 0
    for bits in bits_words:
        if bits & 0xF:
            if (bits >> 8) & 7 == OrcType.CALL:
                new += 1
            elif (bits >> 8) & 3 == 0:
                old += 1
    return OrcLayout.V6_4 if new > old else OrcLayout.V6_1


def header_hash(orc_types_h: str) -> bytes:
    """The 20 bytes the kernel puts in .orc_header for a given orc_types.h (scripts/orc_hash.sh)."""
    lines, inside = [], False
    for line in orc_types_h.splitlines():
        if line.startswith(("#define ORC_REG_", "#define ORC_TYPE_")):
            lines.append(line)
        if line == "struct orc_entry {":
            inside = True
        if inside:
            lines.append(line)
        if line.startswith("}"):
            inside = False
    return hashlib.sha1("".join(f"{line}\n" for line in lines).encode()).digest()


def open_elf(path: str) -> ElfFile:
    """An ELF file, or a kernel module compressed as distributions ship them (.ko.xz, .ko.zst, .ko.gz)."""
    with open(path, "rb") as fh:
        magic = fh.read(6)
    if not magic.startswith((b"\xfd7zXZ", b"\x28\xb5\x2f\xfd", b"\x1f\x8b")):
        return ElfFile(path)
    with open(path, "rb") as fh:
        raw = fh.read()
    limit = decompress.budget(len(raw))
    if magic.startswith(b"\xfd7zXZ"):
        data = decompress.inflate(decompress.Codec.XZ, raw, None, limit=limit, path=path, offset=0, what="xz module")
    elif magic.startswith(b"\x1f\x8b"):
        data = decompress.inflate(decompress.Codec.GZIP, raw, None, limit=limit, path=path, offset=0,
                                  what="gzip module")
    else:
        data = decompress.inflate(decompress.Codec.ZSTD, raw, None, limit=limit, path=path, offset=0,
                                  what="zstd module")
    return ElfFile(path, data=data)


def read_orc(elf: ElfFile, layout: OrcLayout | None = None) -> OrcTable | None:
    """The ORC table of `elf`, None if it has none; FormatError on inconsistent sections."""
    path = elf.path
    orc_sec, ip_sec = elf.section(".orc_unwind"), elf.section(".orc_unwind_ip")
    present = [s for s in (orc_sec, ip_sec) if s is not None and s.type != SectionType.NOBITS]
    if not present:
        return None
    if orc_sec is None or ip_sec is None or len(present) != 2:
        raise FormatError("only one of .orc_unwind and .orc_unwind_ip is present", path, present[0].offset)
    orc = elf.section_bytes(orc_sec)
    ips = elf.section_bytes(ip_sec)
    if len(orc) % ENTRY_SIZE:
        raise FormatError(f".orc_unwind size {len(orc)} is not a multiple of {ENTRY_SIZE}", path,
                          orc_sec.offset + len(orc) - len(orc) % ENTRY_SIZE)
    count = len(orc) // ENTRY_SIZE
    if len(ips) != count * _IP.size:
        raise FormatError(f".orc_unwind_ip holds {len(ips)} bytes for {count} .orc_unwind entries", path,
                          ip_sec.offset)
    raw: list[tuple[int, int, int]] = list(ENTRY.iter_unpack(orc))
    header_sec = elf.section(".orc_header")
    header = elf.section_bytes(header_sec) if header_sec is not None else None
    if layout is not None:
        source = "explicit"
    elif header is not None:
        layout, source = OrcLayout.V6_4, "header"
    else:
        layout, source = guess_layout(bits for _, _, bits in raw), "guess"
    decoded: dict[tuple[int, int, int], OrcEntry] = {}  # a kernel has ~400k rows but a few thousand distinct entries
    entries = [decoded.get(key) or decoded.setdefault(key, OrcEntry.from_fields(*key, layout)) for key in raw]
    rela = elf.section(".rela.orc_unwind_ip")
    if rela is not None:
        rows = _relocated_rows(elf, rela, ip_sec, len(entries))
        return OrcTable(path, layout, source, header, tuple(a for a, _ in rows), tuple(entries),
                        tuple(r for _, r in rows))
    base = ip_sec.addr
    addresses = tuple((base + 4 * i + rel) & MASK for i, (rel,) in enumerate(_IP.iter_unpack(ips)))
    return OrcTable(path, layout, source, header, addresses, tuple(entries))


def _relocated_rows(elf: ElfFile, rela: Section, ip_sec: Section, count: int) -> list[tuple[int, OrcRelocation]]:
    """(address, relocation) of each of the `count` slots of a relocatable file: slot i's ip is the
    R_X86_64_PC32 target symbol + addend."""
    path, sections = elf.path, elf.sections
    if rela.link >= len(sections) or sections[rela.link].type != SectionType.SYMTAB:
        raise FormatError(f".rela.orc_unwind_ip links to section {rela.link}, not a symbol table", path, rela.offset)
    symtab = sections[rela.link]
    symbols = symbols_in(elf, symtab)
    slots: list[tuple[int, OrcRelocation] | None] = [None] * count
    for k, rel in enumerate(read_relocations(elf, rela)):
        where = rela.offset + k * RELA_SIZE
        slot = rel.offset // 4
        if rel.type not in (R_X86_64_PC32, R_X86_64_PLT32):
            raise FormatError(f"relocation type {rel.type} for an .orc_unwind_ip slot (expected R_X86_64_PC32)",
                              path, where)
        if rel.offset % 4 or slot >= count:
            raise FormatError(f"relocation offset {rel.offset:#x} is not a slot of .orc_unwind_ip", path, where)
        if slots[slot] is not None:
            raise FormatError(f"two relocations for .orc_unwind_ip slot {slot}", path, where)
        if rel.symbol >= len(symbols):
            raise FormatError(f"relocation names symbol {rel.symbol} past the end of {symtab.name}", path, where)
        sym = symbols[rel.symbol]
        if sym.shndx >= len(sections):
            raise FormatError(f"symbol {rel.symbol} is in section {sym.shndx}, which does not exist", path, where)
        name = sections[sym.shndx].name if sym.type == STT_SECTION else sym.name
        slots[slot] = ((sym.value + rel.addend) & MASK, OrcRelocation(sym.shndx, name, rel.addend))
    rows = [row for row in slots if row is not None]
    if len(rows) < count:
        first = slots.index(None)
        raise FormatError(f"{count - len(rows)} .orc_unwind_ip slots have no relocation (first: slot {first})",
                          elf.path, ip_sec.offset + 4 * first)
    return rows
