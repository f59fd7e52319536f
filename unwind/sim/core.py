"""Write the emulated process as an ELF core file (what the kernel dumps), so gdb and eu-stack can unwind a sample."""

from __future__ import annotations

import os
import struct
from typing import Callable

from unicorn.x86_const import (UC_X86_REG_EFLAGS, UC_X86_REG_FS_BASE, UC_X86_REG_R8, UC_X86_REG_R9,
                               UC_X86_REG_R10, UC_X86_REG_R11, UC_X86_REG_R12, UC_X86_REG_R13, UC_X86_REG_R14,
                               UC_X86_REG_R15, UC_X86_REG_RAX, UC_X86_REG_RBP, UC_X86_REG_RBX, UC_X86_REG_RCX,
                               UC_X86_REG_RDI, UC_X86_REG_RDX, UC_X86_REG_RIP, UC_X86_REG_RSI, UC_X86_REG_RSP)

from .machine import Process
from .memory import PAGE, PROT_EXEC, PROT_READ, PROT_WRITE, page_down

EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
PHDR = struct.Struct("<IIQQQQQQ")
NHDR = struct.Struct("<III")
ET_CORE, EM_X86_64, PT_LOAD, PT_NOTE = 4, 62, 1, 4
NT_PRSTATUS, NT_PRPSINFO, NT_AUXV, NT_FILE = 1, 3, 6, 0x46494C45
# struct user_regs_struct order (arch/x86/include/asm/user_64.h); None = segment registers we keep at Linux's values.
USER_REGS = (UC_X86_REG_R15, UC_X86_REG_R14, UC_X86_REG_R13, UC_X86_REG_R12, UC_X86_REG_RBP, UC_X86_REG_RBX,
             UC_X86_REG_R11, UC_X86_REG_R10, UC_X86_REG_R9, UC_X86_REG_R8, UC_X86_REG_RAX, UC_X86_REG_RCX,
             UC_X86_REG_RDX, UC_X86_REG_RSI, UC_X86_REG_RDI, "orig_rax", UC_X86_REG_RIP, "cs", UC_X86_REG_EFLAGS,
             UC_X86_REG_RSP, "ss", UC_X86_REG_FS_BASE, "gs_base", "ds", "es", "fs", "gs")
FIXED = {"orig_rax": (1 << 64) - 1, "cs": 0x33, "ss": 0x2B, "gs_base": 0, "ds": 0, "es": 0, "fs": 0, "gs": 0}
STACK_BELOW_SP = 2 * PAGE  # the red zone and a little more below rsp; the rest of the stack VMA is left out


def _note(name: bytes, kind: int, desc: bytes) -> bytes:
    name += b"\0"

    def pad(b: bytes) -> bytes:
        return b + bytes(-len(b) % 4)

    return NHDR.pack(len(name), len(desc), kind) + pad(name) + pad(desc)


def _prstatus(proc: Process, tid: int, read: Callable[[int], int]) -> bytes:
    regs = [FIXED[r] if isinstance(r, str) else read(r) for r in USER_REGS]
    head = struct.pack("<iiih2xQQiiii", 0, 0, 0, 0, 0, 0, tid, 1, proc.pid, proc.pid)
    return head + bytes(64) + struct.pack("<27Q", *regs) + struct.pack("<i4x", 1)


def _prpsinfo(proc: Process) -> bytes:
    args = os.path.basename(proc.exe_path).encode()[:79]
    return struct.pack("<bcbbQIIiiii16s80s", 0, b"R", 0, 0, 0, 0, 0, proc.pid, 1, proc.pid, proc.pid,
                       proc.comm.encode()[:15], args)


def _nt_file(proc: Process) -> bytes:
    files = [(v, v.path) for v in proc.space.vmas if v.path and not v.path.startswith("[")]
    body = struct.pack("<QQ", len(files), PAGE)
    body += b"".join(struct.pack("<QQQ", v.start, v.end, v.offset // PAGE) for v, _ in files)
    return body + b"".join(path.encode() + b"\0" for _, path in files)


def write_core(proc: Process, path: str | os.PathLike[str]) -> None:
    """Dump registers, auxv, mapped files and memory of `proc` as it stands now (between two instructions)."""
    auxv = b"".join(struct.pack("<QQ", k, v) for k, v in proc.program.auxv)
    # one NT_PRSTATUS per live thread, the running one first (the kernel puts the dumping thread first)
    notes = _note(b"CORE", NT_PRSTATUS, _prstatus(proc, proc.tid, proc.uc.reg_read))
    for tid, thread in sorted(proc.threads.items()):
        if thread is not proc.current and thread.context is not None and thread.state.value != "exited":
            notes += _note(b"CORE", NT_PRSTATUS, _prstatus(proc, tid, thread.context.reg_read))
    notes += (_note(b"CORE", NT_PRPSINFO, _prpsinfo(proc)) + _note(b"CORE", NT_AUXV, auxv)
              + _note(b"CORE", NT_FILE, _nt_file(proc)))
    sp = proc.sp
    segments = []
    for v in proc.space.vmas:
        start = v.start
        if v.path == "[stack]" and v.start <= sp < v.end:
            start = max(v.start, page_down(sp) - STACK_BELOW_SP)
        flags = ((4 if v.perms & PROT_READ else 0) | (2 if v.perms & PROT_WRITE else 0)
                 | (1 if v.perms & PROT_EXEC else 0))
        segments.append((start, v.end, flags))
    phnum = 1 + len(segments)
    offset = EHDR.size + phnum * PHDR.size
    headers = [PHDR.pack(PT_NOTE, 0, offset, 0, 0, len(notes), 0, 1)]
    offset += len(notes)
    offset += -offset % PAGE
    data_at = offset
    for start, end, flags in segments:
        headers.append(PHDR.pack(PT_LOAD, flags, offset, start, 0, end - start, end - start, PAGE))
        offset += end - start
    ident = b"\x7fELF\x02\x01\x01" + bytes(9)
    with open(path, "wb") as fh:
        fh.write(EHDR.pack(ident, ET_CORE, EM_X86_64, 1, 0, EHDR.size, 0, 0, EHDR.size, PHDR.size, phnum, 0, 0, 0))
        fh.write(b"".join(headers) + notes)
        fh.write(bytes(data_at - fh.tell()))
        for start, end, _flags in segments:
            fh.write(bytes(proc.uc.mem_read(start, end - start)))
