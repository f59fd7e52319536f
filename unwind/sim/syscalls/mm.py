"""Memory system calls: brk, mmap (anonymous and file-backed), munmap, mprotect, madvise, arch_prctl."""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING

from ..memory import PAGE, PROT_EXEC, page_up
from . import MAP_ANONYMOUS, MAP_FIXED, MAP_FIXED_NOREPLACE, ARCH_GET_FS, ARCH_SET_FS, c_int, syscall

if TYPE_CHECKING:
    from ..machine import Process


@syscall(12, "brk")
def sys_brk(proc: Process, addr: int, *_: int) -> int:
    if addr < proc.brk_start:
        return proc.brk
    old_top, new_top = page_up(proc.brk), page_up(addr)
    if new_top > old_top:
        if not proc.space.is_free(old_top, new_top):
            return proc.brk
        proc.space.map(old_top, new_top - old_top, 3, "[heap]")
    elif new_top < old_top:
        proc.space.unmap(new_top, old_top - new_top)
    proc.brk = addr
    return addr


@syscall(9, "mmap")
def sys_mmap(proc: Process, addr: int, length: int, prot: int, flags: int, fd: int, offset: int) -> int:
    if length == 0 or offset % PAGE:
        return -errno.EINVAL
    prot &= PROT_EXEC | 3  # read, write, exec: the bits unicorn maps (PROT_SEM and the like are no-ops here)
    size = page_up(length)
    if flags & (MAP_FIXED | MAP_FIXED_NOREPLACE):
        if addr % PAGE:
            return -errno.EINVAL
        if flags & MAP_FIXED_NOREPLACE and not proc.space.is_free(addr, addr + size):
            return -errno.EEXIST
        start = addr
    elif addr and addr % PAGE == 0 and proc.space.is_free(addr, addr + size) and addr + size <= 1 << 47:
        start = addr
    else:
        start = proc.space.find_free(size)
    if flags & MAP_ANONYMOUS:
        proc.space.map(start, size, prot)
        return start
    handle = proc.fds.get(c_int(fd))
    if handle is None:
        return -errno.EBADF
    data = handle.data[offset:offset + size]
    proc.space.map(start, size, prot, handle.display, offset, data, handle.build_id)
    return start


@syscall(11, "munmap")
def sys_munmap(proc: Process, addr: int, length: int, *_: int) -> int:
    if addr % PAGE:
        return -errno.EINVAL
    proc.space.unmap(addr, length)
    return 0


@syscall(10, "mprotect")
def sys_mprotect(proc: Process, addr: int, length: int, prot: int, *_: int) -> int:
    if addr % PAGE:
        return -errno.EINVAL
    return 0 if proc.space.protect(addr, length, prot & (PROT_EXEC | 3)) else -errno.ENOMEM


@syscall(28, "madvise")
def sys_madvise(proc: Process, *_: int) -> int:
    return 0


@syscall(158, "arch_prctl")
def sys_arch_prctl(proc: Process, code: int, addr: int, *_: int) -> int:
    from unicorn.x86_const import UC_X86_REG_FS_BASE
    if code == ARCH_SET_FS:
        proc.uc.reg_write(UC_X86_REG_FS_BASE, addr)
        return 0
    if code == ARCH_GET_FS:
        proc.uc.mem_write(addr, struct.pack("<Q", proc.uc.reg_read(UC_X86_REG_FS_BASE)))
        return 0
    return -errno.EINVAL
