"""Map an x86-64 ELF executable (and its PT_INTERP) into unicorn and build Linux's initial stack."""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from formats.elf import ElfFile, Segment, SegmentType
from formats.errors import FormatError, parsing
from unicorn import UcError

from ..errors import UsageError
from ..vdso import own_vdso
from .memory import (PAGE, PIE_BASE, PROT_EXEC, PROT_READ, PROT_WRITE, STACK_SIZE, STACK_TOP, AddressSpace,
                     page_down, page_up)

ET_EXEC, ET_DYN = 2, 3
EM_X86_64 = 62
PF_X, PF_W, PF_R = 1, 2, 4


class AuxType:
    """Auxiliary vector keys (include/uapi/linux/auxvec.h), in the order fs/binfmt_elf.c writes them."""

    NULL, PHDR, PHENT, PHNUM, PAGESZ, BASE, FLAGS, ENTRY = 0, 3, 4, 5, 6, 7, 8, 9
    UID, EUID, GID, EGID, PLATFORM, HWCAP, CLKTCK, SECURE = 11, 12, 13, 14, 15, 16, 17, 23
    RANDOM, HWCAP2, EXECFN, SYSINFO_EHDR, MINSIGSTKSZ = 25, 26, 31, 33, 51


@dataclass(frozen=True, slots=True)
class LoadedElf:
    """Where one ELF image went: load bias, entry, program headers in memory, end of its data."""

    path: str
    bias: int
    entry: int
    phdr: int
    phnum: int
    end: int
    build_id: bytes | None
    interp: str | None


def host_path(path: str, sysroot: str | None) -> str:
    """The file the emulated program means by `path`: under the sysroot first, as perf's --symfs."""
    if sysroot and os.path.isabs(path):
        candidate = os.path.join(sysroot, path.lstrip("/"))
        if os.path.exists(candidate):
            return candidate
    return path


def guest_path(real: str, sysroot: str | None) -> str:
    """The path the process (and /proc/PID/maps) shows for host file `real`: the sysroot prefix removed."""
    shown = os.path.realpath(real)
    if sysroot:
        root = os.path.realpath(sysroot)
        if shown.startswith(root + os.sep):
            return shown[len(root):]
    return shown


def _prot(flags: int) -> int:
    return (PROT_READ if flags & PF_R else 0) | (PROT_WRITE if flags & PF_W else 0) | (PROT_EXEC if flags & PF_X else 0)


def map_elf(space: AddressSpace, path: str, display: str, bias: int | None = None) -> LoadedElf:
    """Map every PT_LOAD of `path` as the kernel's load_elf_binary does; ET_DYN goes at `bias` or top-down."""
    elf = ElfFile(path)
    if elf.machine != EM_X86_64 or elf.type not in (ET_EXEC, ET_DYN):
        raise UsageError(f"{path}: not an x86-64 executable or shared object")
    with parsing(path, elf._phoff, "program headers"):
        loads = elf.load_segments
        segments = elf.segments
    if not loads:
        raise UsageError(f"{path}: no PT_LOAD segments")
    for seg in loads:
        if (seg.filesz > seg.memsz or seg.memsz > 1 << 32 or seg.vaddr + seg.memsz > 1 << 47
                or seg.offset + seg.filesz > len(elf.data) or (seg.vaddr - seg.offset) % PAGE):
            raise FormatError(f"PT_LOAD at vaddr {seg.vaddr:#x} cannot be mapped", path, elf._phoff)
    try:
        return _map_loads(space, elf, loads, segments, path, display, bias)
    except UcError as exc:
        raise FormatError(f"cannot map segments ({exc})", path, elf._phoff) from exc


def _map_loads(space: AddressSpace, elf: ElfFile, loads: tuple[Segment, ...], segments: tuple[Segment, ...],
               path: str, display: str, bias: int | None) -> LoadedElf:
    low = page_down(min(s.vaddr for s in loads))
    high = page_up(max(s.vaddr + s.memsz for s in loads))
    if elf.type == ET_EXEC:
        bias = 0
    elif bias is None:
        bias = space.find_free(high - low) - low
    data = elf.data
    for seg in loads:
        start = bias + page_down(seg.vaddr)
        file_lo = page_down(seg.offset)
        file_end = bias + seg.vaddr + seg.filesz
        payload = bytes(data[file_lo:seg.offset + seg.filesz])
        anon_from = page_up(file_end) if seg.filesz else start
        seg_end = bias + page_up(seg.vaddr + seg.memsz)
        if anon_from > start:
            space.map(start, anon_from - start, _prot(seg.flags), display, file_lo, payload, elf.build_id)
        if seg_end > anon_from:
            space.map(anon_from, seg_end - anon_from, _prot(seg.flags))
    phdr = next((s.vaddr for s in segments if s.type == SegmentType.PHDR), None)
    if phdr is None:
        first = min(loads, key=lambda s: s.vaddr)
        phdr = first.vaddr - first.offset + elf._phoff
    interp = next((s for s in segments if s.type == SegmentType.INTERP), None)
    interp_path = None
    if interp is not None:
        with parsing(path, interp.offset, "PT_INTERP"):
            interp_path = bytes(data[interp.offset:interp.offset + interp.filesz]).split(b"\0")[0].decode()
    return LoadedElf(display, bias, bias + elf.entry, bias + phdr, elf._phnum, bias + high, elf.build_id, interp_path)


def host_vdso() -> tuple[int, bytes] | None:
    """(size of the data pages before it, image) of this host's vDSO."""
    found = own_vdso()
    if found is None:
        return None
    start, data, image = found
    return start - data, image


def map_vdso(space: AddressSpace) -> tuple[int, bytes | None] | None:
    """Map the host's vDSO below the loader with zeroed data pages: clock_mode NONE, so its calls fall back to
    syscalls."""
    found = host_vdso()
    if found is None:
        return None
    data_size, image = found
    base = space.find_free(data_size + len(image)) + data_size
    if data_size:
        space.map(base - data_size, data_size, PROT_READ, "[vvar]")
    try:
        build_id = ElfFile(None, data=image).build_id
    except FormatError:
        build_id = None
    space.map(base, len(image), PROT_READ | PROT_EXEC, "[vdso]", 0, image, build_id)
    return base, build_id


class StackBuilder:
    """Writes strings and words downward from the stack top, as fs/exec.c and create_elf_tables do."""

    def __init__(self, space: AddressSpace):
        self.space = space
        self.sp = STACK_TOP - 8
        space.map(STACK_TOP - STACK_SIZE, STACK_SIZE, PROT_READ | PROT_WRITE, "[stack]")

    def push_bytes(self, blob: bytes) -> int:
        self.sp -= len(blob)
        self.space.uc.mem_write(self.sp, blob)
        return self.sp


def build_stack(space: AddressSpace, argv: list[str], envp: list[str], execfn: str,
                auxv: list[tuple[int, int]], random16: bytes) -> tuple[int, tuple[tuple[int, int], ...]]:
    """Lay out strings, AT_RANDOM bytes, auxv, envp, argv and argc; return the initial rsp (16-aligned) and auxv."""
    stack = StackBuilder(space)
    execfn_at = stack.push_bytes(execfn.encode() + b"\0")
    env_at = [stack.push_bytes(s.encode() + b"\0") for s in reversed(envp)][::-1]
    arg_at = [stack.push_bytes(s.encode() + b"\0") for s in reversed(argv)][::-1]
    stack.sp &= ~0xF
    platform_at = stack.push_bytes(b"x86_64\0")
    random_at = stack.push_bytes(random16)
    auxv = auxv + [(AuxType.RANDOM, random_at), (AuxType.HWCAP2, 0), (AuxType.EXECFN, execfn_at),
                   (AuxType.PLATFORM, platform_at), (AuxType.NULL, 0)]
    words = [len(argv), *arg_at, 0, *env_at, 0]
    for key, value in auxv:
        words += [key, value]
    sp = (stack.sp - 8 * len(words)) & ~0xF
    space.uc.mem_write(sp, struct.pack(f"<{len(words)}Q", *words))
    return sp, tuple(auxv)


@dataclass(frozen=True, slots=True)
class Program:
    """The loaded executable, its interpreter (if dynamic), and the initial register values."""

    exe: LoadedElf
    interp: LoadedElf | None
    entry: int
    sp: int
    brk: int
    auxv: tuple[tuple[int, int], ...]


def load_program(space: AddressSpace, binary: str, argv: list[str], envp: list[str], hwcap: int,
                 sysroot: str | None = None, random16: bytes = bytes(range(16)), vdso: bool = False,
                 exec_path: str | None = None) -> Program:
    """Load `binary` (and its interpreter from the sysroot or host) and build the initial stack.

    `exec_path` is the name the program is told it runs as (AT_EXECFN, its mapping's name), as
    execve's filename is; by default the file's absolute path.
    """
    if not os.path.isfile(binary):
        raise UsageError(f"{binary}: no such file")
    with parsing(binary, None, "executable"):
        return _load_program(space, binary, argv, envp, hwcap, sysroot, random16, vdso, exec_path)


def _load_program(space: AddressSpace, binary: str, argv: list[str], envp: list[str], hwcap: int,
                  sysroot: str | None, random16: bytes, vdso: bool, exec_path: str | None = None) -> Program:
    display = exec_path or os.path.abspath(binary)
    exe = map_elf(space, binary, display, PIE_BASE)
    interp = None
    if exe.interp:
        interp_file = host_path(exe.interp, sysroot)
        if not os.path.isfile(interp_file):
            raise UsageError(f"{binary}: interpreter {exe.interp} not found")
        interp = map_elf(space, interp_file, guest_path(interp_file, sysroot))
    vdso_at = map_vdso(space) if vdso else None
    auxv = [(AuxType.SYSINFO_EHDR, vdso_at[0])] if vdso_at else []
    auxv += [(AuxType.MINSIGSTKSZ, 0xD30), (AuxType.HWCAP, hwcap), (AuxType.PAGESZ, PAGE), (AuxType.CLKTCK, 100),
            (AuxType.PHDR, exe.phdr), (AuxType.PHENT, 56), (AuxType.PHNUM, exe.phnum),
            (AuxType.BASE, interp.bias if interp else 0), (AuxType.FLAGS, 0), (AuxType.ENTRY, exe.entry),
            (AuxType.UID, 0), (AuxType.EUID, 0), (AuxType.GID, 0), (AuxType.EGID, 0), (AuxType.SECURE, 0)]
    sp, written = build_stack(space, argv, envp, display, auxv, random16)
    brk = page_up(exe.end)
    return Program(exe, interp, interp.entry if interp else exe.entry, sp, brk, written)
