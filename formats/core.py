"""ELF core files: per-thread NT_PRSTATUS registers, NT_PRPSINFO, NT_FILE, NT_AUXV, NT_SIGINFO and PT_LOAD memory.

Layouts are the x86-64 Linux ones (`struct elf_prstatus`, `struct elf_prpsinfo`,
`struct user_regs_struct`, `siginfo_t`); the kernel and gdb's gcore write the same notes.
"""

from __future__ import annotations

import bisect
import os
import struct
from dataclasses import dataclass, replace
from enum import IntEnum
from functools import cached_property

from .elf import EM_X86_64, ElfFile, ElfType, Note, SegmentType
from .errors import FormatError, parsing


class NoteType(IntEnum):
    """Core note types (name "CORE" unless noted)."""

    PRSTATUS = 1
    FPREGSET = 2
    PRPSINFO = 3
    AUXV = 6
    X86_XSTATE = 0x202  # name "LINUX"
    SIGINFO = 0x53494749
    FILE = 0x46494C45


class AuxType(IntEnum):
    """The auxiliary-vector keys we use."""

    NULL = 0
    PHDR = 3
    PAGESZ = 6
    BASE = 7
    ENTRY = 9
    EXECFN = 31
    SYSINFO_EHDR = 33


# struct user_regs_struct, in order.
USER_REGS = ("r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx", "rdx",
             "rsi", "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base", "gs_base",
             "ds", "es", "fs", "gs")
_USER_REGS = struct.Struct(f"<{len(USER_REGS)}Q")
# elf_prstatus: siginfo head (signo, code, errno), cursig, sigpend, sighold, pid, ppid, pgrp, sid, 4 timevals.
_PRSTATUS_HEAD = struct.Struct("<iiihxxQQiiii8q")
_PRSTATUS = struct.Struct(f"<{_PRSTATUS_HEAD.format[1:]}{_USER_REGS.size}sixxxx")
_PRPSINFO = struct.Struct("<bcbbxxxxQIIiiii16s80s")
_SIGINFO_HEAD = struct.Struct("<iiixxxxQ")
_FILE_HEAD = struct.Struct("<QQ")
_FILE_ENTRY = struct.Struct("<QQQ")
_AUXV = struct.Struct("<QQ")


@dataclass(frozen=True, slots=True)
class PrStatus:
    """One thread's NT_PRSTATUS: its id, pending signal and general registers (by user_regs_struct name)."""

    signo: int
    code: int
    errno: int
    cursig: int
    sigpend: int
    sighold: int
    pid: int
    ppid: int
    pgrp: int
    sid: int
    regs: tuple[int, ...]
    fpvalid: int = 0

    @classmethod
    def from_bytes(cls, data: bytes) -> "PrStatus":
        (signo, code, errno, cursig, sigpend, sighold, pid, ppid, pgrp, sid, *_times,
         raw_regs, fpvalid) = _PRSTATUS.unpack_from(data, 0)
        return cls(signo, code, errno, cursig, sigpend, sighold, pid, ppid, pgrp, sid,
                   _USER_REGS.unpack(raw_regs), fpvalid)

    def to_bytes(self) -> bytes:
        return _PRSTATUS.pack(self.signo, self.code, self.errno, self.cursig, self.sigpend, self.sighold,
                              self.pid, self.ppid, self.pgrp, self.sid, *([0] * 8),
                              _USER_REGS.pack(*self.regs), self.fpvalid)

    def reg(self, name: str) -> int:
        return self.regs[USER_REGS.index(name)]

    @property
    def named_regs(self) -> dict[str, int]:
        return dict(zip(USER_REGS, self.regs))


@dataclass(frozen=True, slots=True)
class PrPsInfo:
    """NT_PRPSINFO: process state, ids, command name and the start of its arguments."""

    state: int
    sname: str
    zomb: int
    nice: int
    flag: int
    uid: int
    gid: int
    pid: int
    ppid: int
    pgrp: int
    sid: int
    fname: str
    psargs: str

    @classmethod
    def from_bytes(cls, data: bytes) -> "PrPsInfo":
        state, sname, zomb, nice, flag, uid, gid, pid, ppid, pgrp, sid, fname, psargs = _PRPSINFO.unpack_from(data, 0)
        return cls(state, sname.decode("latin-1"), zomb, nice, flag, uid, gid, pid, ppid, pgrp, sid,
                   _cstr(fname), _cstr(psargs))

    def to_bytes(self) -> bytes:
        return _PRPSINFO.pack(self.state, self.sname.encode("latin-1")[:1] or b"\0", self.zomb, self.nice,
                              self.flag, self.uid, self.gid, self.pid, self.ppid, self.pgrp, self.sid,
                              self.fname.encode(), self.psargs.encode())


@dataclass(frozen=True, slots=True)
class SigInfo:
    """NT_SIGINFO: the signal that stopped the thread; `addr` is si_addr (meaningful for faults)."""

    signo: int
    errno: int
    code: int
    addr: int

    @classmethod
    def from_bytes(cls, data: bytes) -> "SigInfo":
        return cls(*_SIGINFO_HEAD.unpack_from(data, 0))


@dataclass(frozen=True, slots=True)
class FileMapping:
    """One NT_FILE entry: [start, end) maps `path` from byte `offset`."""

    start: int
    end: int
    offset: int
    path: str


def parse_file_note(data: bytes, path: str | None = None, at: int | None = None) -> tuple[FileMapping, ...]:
    """NT_FILE: count, page size, (start, end, offset in pages) entries, then NUL-terminated names.

    The kernel writes page size 4096 with offsets in pages; gdb's gcore writes page size 1
    with byte offsets. Multiplying by the recorded page size handles both.
    """
    with parsing(path, at, "NT_FILE note"):
        count, page_size = _FILE_HEAD.unpack_from(data, 0)
        names_at = _FILE_HEAD.size + count * _FILE_ENTRY.size
        if names_at > len(data):
            raise FormatError(f"NT_FILE announces {count} entries, note has {len(data)} bytes", path, at)
        names = bytes(data[names_at:]).split(b"\0")
        if len(names) < count:
            raise FormatError(f"NT_FILE has {len(names)} names for {count} entries", path, at)
        out = []
        for i in range(count):
            start, end, offset = _FILE_ENTRY.unpack_from(data, _FILE_HEAD.size + i * _FILE_ENTRY.size)
            if end < start:
                raise FormatError(f"NT_FILE entry {i} ends before it starts", path, at)
            out.append(FileMapping(start, end, offset * page_size, os.fsdecode(names[i])))
    return tuple(out)


def build_file_note(mappings: list[FileMapping], page_size: int = 4096) -> bytes:
    """The NT_FILE descriptor for `mappings` (offsets must be multiples of `page_size`)."""
    head = _FILE_HEAD.pack(len(mappings), page_size)
    entries = b"".join(_FILE_ENTRY.pack(m.start, m.end, m.offset // page_size) for m in mappings)
    return head + entries + b"".join(os.fsencode(m.path) + b"\0" for m in mappings)


def parse_auxv(data: bytes, path: str | None = None, at: int | None = None) -> dict[int, int]:
    """NT_AUXV: (type, value) pairs up to AT_NULL."""
    out: dict[int, int] = {}
    with parsing(path, at, "NT_AUXV note"):
        for pos in range(0, len(data) - _AUXV.size + 1, _AUXV.size):
            key, value = _AUXV.unpack_from(data, pos)
            if key == AuxType.NULL:
                break
            out.setdefault(key, value)
    return out


@dataclass(frozen=True, slots=True)
class ThreadNotes:
    """The notes of one thread: its NT_PRSTATUS and, when present, its NT_SIGINFO."""

    status: PrStatus
    siginfo: SigInfo | None = None

    @property
    def tid(self) -> int:
        return self.status.pid


@dataclass(frozen=True, slots=True)
class LoadSegment:
    """A PT_LOAD of the core: memory [vaddr, vaddr+memsz), the first `filesz` bytes present at `offset`."""

    vaddr: int
    memsz: int
    filesz: int
    offset: int
    flags: int


class CoreFile:
    """An x86-64 ELF core file: threads, process info, file mappings, auxv and the dumped memory."""

    def __init__(self, path: str | os.PathLike[str] | None = None, data: bytes | None = None):
        self.elf = ElfFile(path, data)
        self.path = self.elf.path
        if self.elf.type != ElfType.CORE:
            raise FormatError(f"not a core file (ELF type {self.elf.type})", self.path, 16)
        if self.elf.machine != EM_X86_64:
            raise FormatError(f"core of machine {self.elf.machine}, only x86-64 (62) is supported", self.path, 18)
        self.threads: list[ThreadNotes] = []
        self.prpsinfo: PrPsInfo | None = None
        self.files: tuple[FileMapping, ...] = ()
        self.file_page_size: int | None = None  # 4096 from the kernel, 1 from gdb's gcore
        self.auxv: dict[int, int] = {}
        self._read_notes()
        segs = [s for s in self.elf.segments if s.type == SegmentType.LOAD]
        self.segments = tuple(sorted((LoadSegment(s.vaddr, s.memsz, s.filesz, s.offset, s.flags) for s in segs),
                                     key=lambda s: s.vaddr))
        self._starts = [s.vaddr for s in self.segments]

    def _read_notes(self) -> None:
        current: list[ThreadNotes] = []  # the thread whose notes are being read (none before its NT_PRSTATUS)
        with parsing(self.path, None, "core notes"):  # a PT_NOTE running past the file end
            notes = list(self.elf.notes())
        for note in notes:
            self._note(note, current)
        self.threads += current

    def _note(self, note: Note, current: list[ThreadNotes]) -> None:
        if note.name != b"CORE":
            return
        what = f"{NoteType(note.type).name if note.type in NoteType._value2member_map_ else note.type} note"
        with parsing(self.path, note.offset, what):
            if note.type == NoteType.PRSTATUS:
                self.threads += current
                current.clear()
                if len(note.desc) < _PRSTATUS.size:
                    raise FormatError(f"NT_PRSTATUS has {len(note.desc)} bytes, need {_PRSTATUS.size}",
                                      self.path, note.offset)
                current.append(ThreadNotes(PrStatus.from_bytes(note.desc)))
            elif note.type == NoteType.SIGINFO and current and current[0].siginfo is None:
                current[0] = replace(current[0], siginfo=SigInfo.from_bytes(note.desc))
            elif note.type == NoteType.PRPSINFO:
                self.prpsinfo = PrPsInfo.from_bytes(note.desc)
            elif note.type == NoteType.FILE:
                self.files = parse_file_note(note.desc, self.path, note.offset)
                self.file_page_size = _FILE_HEAD.unpack_from(note.desc, 0)[1]
            elif note.type == NoteType.AUXV:
                self.auxv = parse_auxv(note.desc, self.path, note.offset)

    # ---- memory ---------------------------------------------------------------------

    def segment_at(self, address: int) -> LoadSegment | None:
        i = bisect.bisect_right(self._starts, address) - 1
        if i >= 0 and address < self.segments[i].vaddr + self.segments[i].memsz:
            return self.segments[i]
        return None

    def read(self, address: int, size: int) -> bytes | None:
        """`size` bytes at `address` if the core holds all of them (one segment), else None."""
        seg = self.segment_at(address)
        if seg is None or address + size > seg.vaddr + seg.filesz:
            return None
        start = seg.offset + address - seg.vaddr
        if start + size > len(self.elf.data):
            return None
        return bytes(self.elf.data[start:start + size])

    def has(self, address: int, size: int = 1) -> bool:
        seg = self.segment_at(address)
        return seg is not None and address + size <= seg.vaddr + seg.filesz

    # ---- derived --------------------------------------------------------------------

    @cached_property
    def vdso_base(self) -> int | None:
        """Where the vDSO image sits (AT_SYSINFO_EHDR), if the auxv says so."""
        return self.auxv.get(AuxType.SYSINFO_EHDR)

    @cached_property
    def vdso_image(self) -> bytes | None:
        """The vDSO ELF image as dumped in the core (its whole PT_LOAD), or None."""
        base = self.vdso_base
        seg = self.segment_at(base) if base else None
        if seg is None or base != seg.vaddr:
            return None
        return self.read(base, seg.filesz)

    @property
    def pid(self) -> int:
        if self.prpsinfo is not None:
            return self.prpsinfo.pid
        return self.threads[0].status.pid if self.threads else 0

    @property
    def command(self) -> str:
        return self.prpsinfo.fname if self.prpsinfo else ""


def _cstr(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")
