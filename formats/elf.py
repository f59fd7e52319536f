"""A narrow, fast little-endian ELF reader (ELF64; ELFCLASS32 for i386 and x32 symbolisation): header, sections,
segments, notes, build-id, debuglink.

pyelftools stays available for the rare paths; this reader exists so that hot paths
(symbolising, unwinding) never import it.  Compressed sections come back decompressed.
Records are NamedTuples (typed, immutable) so that a warm `unwind symbolize` never pays for
importing dataclasses.
"""

# Annotations are evaluated at import (no `from __future__ import annotations`): typing compiles the
# string annotation of every NamedTuple field, ~0.5 M instructions each (NOTES.md, issue 16).

import os
import struct
import zlib
from array import array
from enum import IntEnum
from functools import cached_property
from typing import Iterator, NamedTuple, overload

from . import decompress
from .errors import FormatError, NotELFError, StringTableError, TruncatedError, parsing
from .files import Data, map_file


class ElfType(IntEnum):
    NONE = 0
    REL = 1
    EXEC = 2
    DYN = 3
    CORE = 4


class SectionType(IntEnum):
    NULL = 0
    PROGBITS = 1
    SYMTAB = 2
    STRTAB = 3
    RELA = 4
    HASH = 5
    DYNAMIC = 6
    NOTE = 7
    NOBITS = 8
    REL = 9
    DYNSYM = 11


class SegmentType(IntEnum):
    NULL = 0
    LOAD = 1
    DYNAMIC = 2
    INTERP = 3
    NOTE = 4
    PHDR = 6
    TLS = 7
    GNU_EH_FRAME = 0x6474E550
    GNU_STACK = 0x6474E551
    GNU_RELRO = 0x6474E552
    GNU_PROPERTY = 0x6474E553


SHF_ALLOC = 0x2
SHF_EXECINSTR = 0x4
SHF_COMPRESSED = 0x800
PF_X, PF_W, PF_R = 1, 2, 4
NT_GNU_BUILD_ID = 3
ELFCOMPRESS_ZLIB = 1
ELFCOMPRESS_ZSTD = 2
EM_386 = 3
EM_X86_64 = 62
ELFCLASS32, ELFCLASS64 = 1, 2

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_SHDR = struct.Struct("<IIQQQQIIQQ")
_PHDR = struct.Struct("<IIQQQQQQ")
_CHDR = struct.Struct("<IIQQ")
_NHDR = struct.Struct("<III")
# ELFCLASS32 (i386, x32): the same fields, 32-bit wide; a program header orders them differently
_EHDR32 = struct.Struct("<16sHHIIIIIHHHHHH")
_SHDR32 = struct.Struct("<IIIIIIIIII")
_PHDR32 = struct.Struct("<IIIIIIII")  # type, offset, vaddr, paddr, filesz, memsz, flags, align
_CHDR32 = struct.Struct("<III")  # type, size, addralign


class Section(NamedTuple):
    index: int  # type: ignore[assignment]  # the field shadows tuple.index (readelf calls the column Nr)
    name: str
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int
    info: int
    addralign: int
    entsize: int

    @property
    def is_alloc(self) -> bool:
        return bool(self.flags & SHF_ALLOC)


class Segment(NamedTuple):
    type: int
    flags: int
    offset: int
    vaddr: int
    paddr: int
    filesz: int
    memsz: int
    align: int

    @property
    def is_executable(self) -> bool:
        return bool(self.flags & PF_X)


class Note(NamedTuple):
    name: bytes
    type: int
    desc: bytes
    offset: int


class ElfFile:
    """One ELF file, memory-mapped; sections and segments parsed on first use."""

    def __init__(self, path: str | os.PathLike[str] | None = None, data: Data | None = None) -> None:
        self.path = os.fspath(path) if path is not None else None
        if data is None:
            if self.path is None:
                raise ValueError("ElfFile needs a path or data")
            data = map_file(self.path)
        self.data: Data = data
        if len(data) < 16 or data[:4] != b"\x7fELF":
            raise NotELFError("not an ELF file", self.path)
        if data[4] not in (ELFCLASS32, ELFCLASS64) or data[5] != 1:
            raise NotELFError("only little-endian ELF is supported", self.path)
        self.elf_class = data[4]
        self.is_64 = self.elf_class == ELFCLASS64
        self.address_size = 8 if self.is_64 else 4
        ehdr = _EHDR if self.is_64 else _EHDR32
        self._shdr, self._chdr = (_SHDR, _CHDR) if self.is_64 else (_SHDR32, _CHDR32)
        if len(data) < ehdr.size:
            raise TruncatedError("ELF header is truncated", self.path, 0)
        (_, self.type, self.machine, _, self.entry, self._phoff, self._shoff, _, _,
         self._phentsize, self._phnum, self._shentsize, self._shnum, self._shstrndx) = ehdr.unpack_from(data, 0)

    def __repr__(self) -> str:
        return f"ElfFile({self.path!r})"

    # ---- sections -------------------------------------------------------------------

    @cached_property
    def sections(self) -> tuple[Section, ...]:
        data, path = self.data, self.path
        if not self._shoff:
            return ()
        shdr = self._shdr
        if self._shentsize != shdr.size:
            raise FormatError(f"unexpected section header size {self._shentsize}", path, self._shoff)
        shnum, shstrndx = self._shnum, self._shstrndx
        with parsing(path, self._shoff, "section headers"):
            if shnum == 0 or shstrndx == 0xFFFF:  # more than 0xff00 sections: the real values are in section 0
                first = shdr.unpack_from(data, self._shoff) if self._shoff + shdr.size <= len(data) else None
                if first is None:
                    raise TruncatedError("section header 0 lies past the end of the file", path, self._shoff)
                shnum = first[5] if shnum == 0 else shnum
                shstrndx = first[6] if shstrndx == 0xFFFF else shstrndx
            if self._shoff + shnum * shdr.size > len(data):
                raise TruncatedError(f"{shnum} section headers run past the end of the file", path, self._shoff)
            raw = [shdr.unpack_from(data, self._shoff + i * shdr.size) for i in range(shnum)]
        names = raw[shstrndx] if shstrndx < len(raw) else None
        names_off, names_end = (names[4], min(names[4] + names[5], len(data))) if names else (0, 0)
        sections = []
        for i, (name, typ, flags, addr, off, size, link, info, align, entsize) in enumerate(raw):
            label = _cstring(data, names_off + name, names_end) if names_off else ""
            sections.append(Section(i, label, typ, flags, addr, off, size, link, info, align, entsize))
        return tuple(sections)

    @cached_property
    def _by_name(self) -> dict[str, Section]:
        table: dict[str, Section] = {}
        for s in self.sections:
            table.setdefault(s.name, s)
        return table

    def section(self, name: str) -> Section | None:
        """The first section called `name` (a legacy `.zdebug_*` twin counts for `.debug_*`)."""
        found = self._by_name.get(name)
        if found is None and name.startswith(".debug_"):
            found = self._by_name.get(".z" + name[1:])
        return found

    def raw_section_bytes(self, section: Section) -> memoryview:
        """The section's bytes as stored in the file (empty for NOBITS)."""
        if section.type == SectionType.NOBITS:
            return memoryview(b"")
        end = section.offset + section.size
        if end > len(self.data):
            raise TruncatedError(f"section {section.name} runs past the end of the file", self.path, section.offset)
        return memoryview(self.data)[section.offset:end]

    @overload
    def section_bytes(self, section: Section) -> bytes: ...
    @overload
    def section_bytes(self, section: str) -> bytes | None: ...
    def section_bytes(self, section: Section | str) -> bytes | None:
        """A section's contents, decompressed (SHF_COMPRESSED zlib/zstd or legacy .zdebug); None if absent."""
        if isinstance(section, str):
            found = self.section(section)
            if found is None:
                return None
            section = found
        raw = self.raw_section_bytes(section)
        header = self._compression(section, raw)
        if header is None:
            return bytes(raw)
        codec, declared, start = header
        if self._declared_inflated_total > decompress.budget(len(self.data)):
            raise decompress.TooLargeError(
                f"compressed sections declare {self._declared_inflated_total} bytes in total, more than "
                f"{decompress.budget(len(self.data))} for a file of {len(self.data)} bytes", self.path, section.offset)
        return decompress.inflate(codec, raw[start:], declared, path=self.path, offset=section.offset,
                                  what=f"compressed section {section.name}")

    def _compression(self, section: Section, raw: memoryview) -> tuple[decompress.Codec, int, int] | None:
        """(codec, declared inflated size, payload start) of a compressed section; None if it is stored plain."""
        if section.flags & SHF_COMPRESSED:
            chdr = self._chdr
            if len(raw) < chdr.size:
                raise TruncatedError(f"compression header of {section.name} is truncated", self.path, section.offset)
            kind, size = (chdr.unpack_from(raw, 0)[i] for i in ((0, 2) if self.is_64 else (0, 1)))
            if kind not in (ELFCOMPRESS_ZLIB, ELFCOMPRESS_ZSTD):
                raise FormatError(f"unknown compression type {kind} in {section.name}", self.path, section.offset)
            return decompress.Codec(kind), size, chdr.size
        if section.name.startswith(".zdebug") and bytes(raw[:4]) == b"ZLIB":
            if len(raw) < 12:
                raise TruncatedError(f"compression header of {section.name} is truncated", self.path, section.offset)
            return decompress.Codec.ZLIB, int.from_bytes(raw[4:12], "big"), 12
        return None

    @cached_property
    def _declared_inflated_total(self) -> int:
        """The sum of the inflated sizes every compressed section declares (checked against the file's budget)."""
        total = 0
        for section in self.sections:
            if section.type == SectionType.NOBITS or not (section.flags & SHF_COMPRESSED
                                                           or section.name.startswith(".zdebug")):
                continue
            if section.offset + section.size > len(self.data):
                continue  # reading it raises; it inflates nothing
            try:
                header = self._compression(section, self.raw_section_bytes(section))
            except FormatError:
                continue  # reading it raises; it inflates nothing
            if header is not None:
                total += header[1]
        return total

    # ---- segments and notes ---------------------------------------------------------

    @cached_property
    def segments(self) -> tuple[Segment, ...]:
        if not self._phoff or not self._phnum:
            return ()
        phdr = _PHDR if self.is_64 else _PHDR32
        if self._phentsize != phdr.size:
            raise FormatError(f"unexpected program header size {self._phentsize}", self.path, self._phoff)
        if self._phoff + self._phnum * phdr.size > len(self.data):
            raise TruncatedError(f"{self._phnum} program headers run past the end of the file", self.path, self._phoff)
        rows = [phdr.unpack_from(self.data, self._phoff + i * phdr.size) for i in range(self._phnum)]
        if self.is_64:
            return tuple(Segment(*row) for row in rows)
        return tuple(Segment(typ, flags, offset, vaddr, paddr, filesz, memsz, align)
                     for typ, offset, vaddr, paddr, filesz, memsz, flags, align in rows)

    @cached_property
    def load_segments(self) -> tuple[Segment, ...]:
        return tuple(s for s in self.segments if s.type == SegmentType.LOAD)

    def notes(self) -> Iterator[Note]:
        """Every note in SHT_NOTE sections, or in PT_NOTE segments when there are no note sections.

        Sections first, as LLVM reads them: in a debug-only file (`objcopy --only-keep-debug`,
        `eu-strip -f`) the PT_NOTE segment may describe bytes the file no longer holds.
        """
        spans = [(s.offset, s.size) for s in self.sections if s.type == SectionType.NOTE]
        if not spans:
            spans = [(s.offset, s.filesz) for s in self.segments if s.type == SegmentType.NOTE]
        for start, size in spans:
            yield from iter_notes(self.data, start, size, self.path)

    @cached_property
    def build_id(self) -> bytes | None:
        """The NT_GNU_BUILD_ID note's bytes; None when there is none or the notes cannot be read before it
        (LLVM's getBuildID drops the error: a debug-only file's PT_NOTE may cover bytes it no longer holds)."""
        try:
            for note in self.notes():
                if note.type == NT_GNU_BUILD_ID and note.name == b"GNU":
                    return note.desc
        except FormatError:
            return None
        return None

    @cached_property
    def debuglink(self) -> tuple[str, int] | None:
        """(file name, CRC32) from .gnu_debuglink."""
        raw = self.section_bytes(".gnu_debuglink")
        if not raw:
            return None
        end = raw.find(b"\0")
        if end < 0:
            raise FormatError(".gnu_debuglink has no terminating NUL", self.path)
        crc_at = (end + 4) & ~3
        with parsing(self.path, None, ".gnu_debuglink"):
            (crc,) = struct.unpack_from("<I", raw, crc_at)
        return raw[:end].decode("utf-8", "replace"), crc

    # ---- addresses ------------------------------------------------------------------

    def vaddr_to_offset(self, vaddr: int) -> int | None:
        """File offset holding ELF virtual address `vaddr`, through PT_LOAD."""
        for seg in self.load_segments:
            if seg.vaddr <= vaddr < seg.vaddr + seg.filesz:
                return vaddr - seg.vaddr + seg.offset
        return None

    def offset_to_vaddr(self, offset: int) -> int | None:
        """ELF virtual address of file offset `offset`, through PT_LOAD."""
        for seg in self.load_segments:
            if seg.offset <= offset < seg.offset + seg.filesz:
                return offset - seg.offset + seg.vaddr
        return None

    def read_vaddr(self, vaddr: int, size: int) -> bytes | None:
        """`size` bytes at ELF virtual address `vaddr` from the file image, or None if not all in the file."""
        for seg in self.load_segments:
            if seg.vaddr <= vaddr and vaddr + size <= seg.vaddr + seg.filesz:
                start = vaddr - seg.vaddr + seg.offset
                return bytes(self.data[start:start + size])
        return None

    @property
    def first_load_vaddr(self) -> int:
        """The lowest PT_LOAD address: what a PIE or shared object is relocated against (0 for most)."""
        loads = self.load_segments
        return min((s.vaddr - s.offset for s in loads), default=0)


def iter_notes(data: Data, start: int, size: int, path: str | None = None) -> Iterator[Note]:
    """Notes in data[start:start+size] (4-byte aligned name and descriptor)."""
    pos, end = start, start + size
    if end > len(data):
        raise TruncatedError("note segment runs past the end of the file", path, start)
    while pos + _NHDR.size <= end:
        namesz, descsz, typ = _NHDR.unpack_from(data, pos)
        name_at = pos + _NHDR.size
        desc_at = name_at + ((namesz + 3) & ~3)
        nxt = desc_at + ((descsz + 3) & ~3)
        if desc_at + descsz > end:
            raise TruncatedError("note runs past its segment", path, pos)
        yield Note(bytes(data[name_at:name_at + namesz]).rstrip(b"\0"), typ, bytes(data[desc_at:desc_at + descsz]), pos)
        pos = nxt


def _cstring(data: Data, offset: int, end: int) -> str:
    """The NUL-terminated name at `offset` inside a string table ending at `end`; readelf's <corrupt> if outside."""
    if offset >= end:
        return "<corrupt>"
    stop = data.find(b"\0", offset, end)
    if stop < 0:
        stop = end
    return bytes(data[offset:stop]).decode("utf-8", "replace")


def check_string_table(elf: ElfFile, table: str = ".symtab") -> None:
    """StringTableError, worded as LLVM 14's ELFFile::getStringTable words it, when the names of
    `table` (one with a symbol past the null one) sit in a string table whose bytes are not in the file
    (offset + size past the class's address width, or past the file's end), that is empty or that does
    not end with NUL: llvm-symbolizer then refuses the whole file.  (Here, not in formats.symtab: a warm
    `unwind symbolize` checks this and reads no symbol table.)"""
    section = elf.section(table)
    entry_size = 24 if elf.is_64 else 16  # Elf64_Sym, Elf32_Sym
    if section is None or section.type not in (SectionType.SYMTAB, SectionType.DYNSYM) or \
            section.size < 2 * entry_size or section.link >= len(elf.sections):
        return
    strtab = elf.sections[section.link]
    if strtab.type != SectionType.STRTAB:
        return
    where = f"section [index {strtab.index}] has a sh_offset ({strtab.offset:#x}) + sh_size ({strtab.size:#x}) that"
    if strtab.offset + strtab.size >= 1 << (64 if elf.is_64 else 32):  # getSectionContentsAsArray's bounds
        raise StringTableError(f"{where} cannot be represented", elf.path)
    if strtab.offset + strtab.size > len(elf.data):
        raise StringTableError(f"{where} is greater than the file size ({len(elf.data):#x})", elf.path)
    data = elf.raw_section_bytes(strtab) if strtab.size else b""
    if not data:
        raise StringTableError(f"SHT_STRTAB string table section [index {strtab.index}] is empty", elf.path)
    if data[-1] != 0:
        raise StringTableError(f"SHT_STRTAB string table section [index {strtab.index}] is non-null terminated",
                               elf.path)


def symbol_name_error(elf: ElfFile) -> str | None:
    """LLVM 14's refusal of a file one of whose symbols has st_name past its string table (Elf_Sym::getName:
    `st_name (0x...) is past the end of the string table of size 0x...`, for the first such symbol in table
    order), None when every name is readable.  The symbols are .symtab's, or .dynsym's when .symtab has none
    (computeSymbolSizes' fallback).  It costs a pass over the table, so the index computes it once when it
    is built (unwind/index.py) and warm runs read the verdict back."""
    entry_size = 24 if elf.is_64 else 16  # Elf64_Sym, Elf32_Sym
    for table in (".symtab", ".dynsym"):
        section = elf.section(table)
        if section is None or section.type not in (SectionType.SYMTAB, SectionType.DYNSYM) or \
                section.size < 2 * entry_size:
            continue
        if section.link >= len(elf.sections) or section.type == SectionType.NOBITS:
            return None
        strtab = elf.sections[section.link]
        if strtab.type != SectionType.STRTAB or strtab.offset + strtab.size > len(elf.data) \
                or section.offset + section.size > len(elf.data):
            return None  # refused by check_string_table already, or not LLVM's concern here
        raw = elf.raw_section_bytes(section)
        words = array("I")
        words.frombytes(raw[:len(raw) - len(raw) % entry_size])
        names = words[entry_size // 4::entry_size // 4]  # every symbol's st_name, past the null symbol
        if names and max(names) >= strtab.size:
            name = next(n for n in names if n >= strtab.size)
            return f"st_name ({name:#x}) is past the end of the string table of size {strtab.size:#x}"
        return None
    return None


def gnu_debuglink_crc(path: str) -> int:
    """The CRC32 that .gnu_debuglink records for a whole file."""
    crc = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            crc = zlib.crc32(chunk, crc)
    return crc & 0xFFFFFFFF
