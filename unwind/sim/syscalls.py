"""Linux x86-64 system calls the emulated program may make: one handler per number, in a table.

A handler takes the process and the six argument registers and returns the value for rax
(negative errno on failure). Numbers without a handler return -ENOSYS and are counted in
`Process.unsupported`, so a run that needed one is never silently taken for a good run.
"""

from __future__ import annotations

import errno
import os
import struct
from typing import Callable

from .files import open_host_file
from .memory import PAGE, PROT_EXEC, page_up
from .signals import (SI_TKILL, SI_USER, SIG_DFL, SS_DISABLE, SigAction, KSIGACTION)

MAP_FIXED, MAP_ANONYMOUS, MAP_FIXED_NOREPLACE = 0x10, 0x20, 0x100000
AT_FDCWD, AT_EMPTY_PATH = -100, 0x1000
O_ACCMODE, O_CREAT = 3, 0o100
ARCH_SET_FS, ARCH_GET_FS = 0x1002, 0x1003
TCGETS, TIOCGWINSZ = 0x5401, 0x5413
S_IFIFO, S_IFREG, S_IFDIR = 0o010000, 0o100000, 0o040000
STAT = struct.Struct("<QQQIIIIQqqqqqqqqq24x")
SYSINFO = struct.Struct("<q3Q6QHH4xQQI4x")
RLIM_INFINITY = (1 << 64) - 1

Handler = Callable[..., int]
TABLE: dict[int, tuple[str, Handler]] = {}


def syscall(number: int, name: str):
    def add(func: Handler) -> Handler:
        TABLE[number] = (name, func)
        return func
    return add


def _signed(value: int) -> int:
    return value - (1 << 64) if value & (1 << 63) else value


def _int(value: int) -> int:
    """A C `int` argument: the low 32 bits, signed (AT_FDCWD arrives as 0xffffff9c)."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & (1 << 31) else value


def _cstr(proc, address: int, limit: int = 4096) -> str:
    out = bytearray()
    while len(out) < limit:
        chunk = bytes(proc.uc.mem_read(address + len(out), 64))
        end = chunk.find(b"\0")
        if end >= 0:
            out += chunk[:end]
            break
        out += chunk
    return out.decode("utf-8", "surrogateescape")


# ---- memory -------------------------------------------------------------------------

@syscall(12, "brk")
def sys_brk(proc, addr, *_):
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
def sys_mmap(proc, addr, length, prot, flags, fd, offset):
    if length == 0 or offset % PAGE:
        return -errno.EINVAL
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
    handle = proc.fds.get(_int(fd))
    if handle is None:
        return -errno.EBADF
    data = handle.data[offset:offset + size]
    proc.space.map(start, size, prot, handle.display, offset, data, handle.build_id)
    return start


@syscall(11, "munmap")
def sys_munmap(proc, addr, length, *_):
    if addr % PAGE:
        return -errno.EINVAL
    proc.space.unmap(addr, length)
    return 0


@syscall(10, "mprotect")
def sys_mprotect(proc, addr, length, prot, *_):
    if addr % PAGE:
        return -errno.EINVAL
    return 0 if proc.space.protect(addr, length, prot & (PROT_EXEC | 3)) else -errno.ENOMEM


@syscall(28, "madvise")
def sys_madvise(proc, *_):
    return 0


@syscall(158, "arch_prctl")
def sys_arch_prctl(proc, code, addr, *_):
    from unicorn.x86_const import UC_X86_REG_FS_BASE
    if code == ARCH_SET_FS:
        proc.uc.reg_write(UC_X86_REG_FS_BASE, addr)
        return 0
    if code == ARCH_GET_FS:
        proc.uc.mem_write(addr, struct.pack("<Q", proc.uc.reg_read(UC_X86_REG_FS_BASE)))
        return 0
    return -errno.EINVAL


# ---- files --------------------------------------------------------------------------

def _open(proc, dirfd, path_ptr, flags):
    path = _cstr(proc, path_ptr)
    if flags & (O_ACCMODE | O_CREAT):
        proc.note_unsupported(f"open for writing {path}")
        return -errno.EACCES
    if not os.path.isabs(path) and _int(dirfd) != AT_FDCWD:
        return -errno.ENOENT
    handle = open_host_file(path, proc.sysroot)
    if isinstance(handle, int):
        return handle
    proc.opened.append(handle.display)
    return proc.new_fd(handle)


@syscall(2, "open")
def sys_open(proc, path, flags, *_):
    return _open(proc, AT_FDCWD & ((1 << 64) - 1), path, flags)


@syscall(257, "openat")
def sys_openat(proc, dirfd, path, flags, *_):
    return _open(proc, dirfd, path, flags)


@syscall(3, "close")
def sys_close(proc, fd, *_):
    if proc.fds.pop(fd, None) is None and fd > 2:
        return -errno.EBADF
    return 0


def _read_into(proc, handle, buf, count, position):
    data = handle.data[position:position + count]
    proc.uc.mem_write(buf, bytes(data))
    return len(data)


@syscall(0, "read")
def sys_read(proc, fd, buf, count, *_):
    if fd == 0:
        return 0
    handle = proc.fds.get(fd)
    if handle is None:
        return -errno.EBADF
    n = _read_into(proc, handle, buf, count, handle.pos)
    handle.pos += n
    return n


@syscall(17, "pread64")
def sys_pread64(proc, fd, buf, count, offset, *_):
    handle = proc.fds.get(fd)
    if handle is None:
        return -errno.EBADF
    return _read_into(proc, handle, buf, count, offset)


@syscall(8, "lseek")
def sys_lseek(proc, fd, offset, whence, *_):
    handle = proc.fds.get(fd)
    if handle is None:
        return -errno.ESPIPE if fd <= 2 else -errno.EBADF
    base = {0: 0, 1: handle.pos, 2: len(handle.data)}.get(whence)
    if base is None:
        return -errno.EINVAL
    handle.pos = base + _signed(offset)
    return handle.pos


def _stat_bytes(size: int, mode: int, ino: int) -> bytes:
    return STAT.pack(0x803, ino, 1, mode, 0, 0, 0, 0, size, 4096, (size + 511) // 512, 0, 0, 0, 0, 0, 0)


def _fd_stat(proc, fd) -> bytes | int:
    if fd in (0, 1, 2):
        return _stat_bytes(0, S_IFIFO | 0o600, 100 + fd)
    handle = proc.fds.get(fd)
    if handle is None:
        return -errno.EBADF
    return _stat_bytes(len(handle.data), (S_IFDIR if handle.is_dir else S_IFREG) | 0o755, handle.ino)


@syscall(5, "fstat")
def sys_fstat(proc, fd, buf, *_):
    st = _fd_stat(proc, fd)
    if isinstance(st, int):
        return st
    proc.uc.mem_write(buf, st)
    return 0


@syscall(262, "newfstatat")
def sys_newfstatat(proc, dirfd, path_ptr, buf, flags, *_):
    path = _cstr(proc, path_ptr)
    if not path and flags & AT_EMPTY_PATH:
        return sys_fstat(proc, _int(dirfd), buf)
    handle = open_host_file(path, proc.sysroot)
    if isinstance(handle, int):
        return handle
    proc.uc.mem_write(buf, _stat_bytes(len(handle.data), (S_IFDIR if handle.is_dir else S_IFREG) | 0o755,
                                       handle.ino))
    return 0


@syscall(4, "stat")
def sys_stat(proc, path_ptr, buf, *_):
    return sys_newfstatat(proc, AT_FDCWD & ((1 << 64) - 1), path_ptr, buf, 0)


@syscall(21, "access")
def sys_access(proc, path_ptr, mode, *_):
    handle = open_host_file(_cstr(proc, path_ptr), proc.sysroot)
    return handle if isinstance(handle, int) else 0


@syscall(269, "faccessat")
def sys_faccessat(proc, dirfd, path_ptr, mode, *_):
    return sys_access(proc, path_ptr, mode)


@syscall(89, "readlink")
def sys_readlink(proc, path_ptr, buf, size, *_):
    path = _cstr(proc, path_ptr)
    if path != "/proc/self/exe":
        return -errno.EINVAL
    target = proc.exe_path.encode()[:size]
    proc.uc.mem_write(buf, target)
    return len(target)


@syscall(267, "readlinkat")
def sys_readlinkat(proc, dirfd, path_ptr, buf, size, *_):
    return sys_readlink(proc, path_ptr, buf, size)


@syscall(16, "ioctl")
def sys_ioctl(proc, fd, request, *_):
    return -errno.ENOTTY if fd in (0, 1, 2) or fd in proc.fds else -errno.EBADF


@syscall(72, "fcntl")
def sys_fcntl(proc, fd, cmd, *_):
    return 0 if fd in (0, 1, 2) or fd in proc.fds else -errno.EBADF


@syscall(1, "write")
def sys_write(proc, fd, buf, count, *_):
    if fd not in (1, 2):
        return -errno.EBADF
    proc.output[fd] += bytes(proc.uc.mem_read(buf, count))
    return count


@syscall(20, "writev")
def sys_writev(proc, fd, iov, iovcnt, *_):
    if fd not in (1, 2):
        return -errno.EBADF
    total = 0
    for i in range(iovcnt):
        base, length = struct.unpack("<QQ", proc.uc.mem_read(iov + 16 * i, 16))
        proc.output[fd] += bytes(proc.uc.mem_read(base, length))
        total += length
    return total


@syscall(79, "getcwd")
def sys_getcwd(proc, buf, size, *_):
    cwd = os.getcwd().encode() + b"\0"
    if len(cwd) > size:
        return -errno.ERANGE
    proc.uc.mem_write(buf, cwd)
    return len(cwd)


# ---- process ------------------------------------------------------------------------

@syscall(60, "exit")
def sys_exit(proc, status, *_):
    proc.finish(status & 0xFF)
    return 0


@syscall(231, "exit_group")
def sys_exit_group(proc, status, *_):
    proc.finish(status & 0xFF)
    return 0


@syscall(39, "getpid")
def sys_getpid(proc, *_):
    return proc.pid


@syscall(186, "gettid")
def sys_gettid(proc, *_):
    return proc.pid


@syscall(110, "getppid")
def sys_getppid(proc, *_):
    return 1


for _number, _name in ((102, "getuid"), (104, "getgid"), (107, "geteuid"), (108, "getegid")):
    syscall(_number, _name)(lambda proc, *_: 0)


@syscall(218, "set_tid_address")
def sys_set_tid_address(proc, *_):
    return proc.pid


@syscall(273, "set_robust_list")
def sys_set_robust_list(proc, *_):
    return 0


@syscall(334, "rseq")
def sys_rseq(proc, *_):
    return -errno.ENOSYS  # glibc then runs without restartable sequences


@syscall(302, "prlimit64")
def sys_prlimit64(proc, pid, resource, new, old, *_):
    if old:
        limit = (8 << 20, RLIM_INFINITY) if resource == 3 else (RLIM_INFINITY, RLIM_INFINITY)
        proc.uc.mem_write(old, struct.pack("<QQ", *limit))
    return 0


@syscall(97, "getrlimit")
def sys_getrlimit(proc, resource, old, *_):
    return sys_prlimit64(proc, 0, resource, 0, old)


@syscall(63, "uname")
def sys_uname(proc, buf, *_):
    fields = (b"Linux", b"unwind-sim", b"6.1.0", b"#1 SMP PREEMPT_DYNAMIC", b"x86_64", b"(none)")
    proc.uc.mem_write(buf, b"".join(f.ljust(65, b"\0") for f in fields))
    return 0


@syscall(318, "getrandom")
def sys_getrandom(proc, buf, count, *_):
    proc.uc.mem_write(buf, proc.rng.randbytes(count))
    return count


@syscall(228, "clock_gettime")
def sys_clock_gettime(proc, clock, ts, *_):
    ns = proc.clock_ns()
    proc.uc.mem_write(ts, struct.pack("<qq", ns // 10**9, ns % 10**9))
    return 0


@syscall(96, "gettimeofday")
def sys_gettimeofday(proc, tv, *_):
    ns = proc.clock_ns()
    if tv:
        proc.uc.mem_write(tv, struct.pack("<qq", ns // 10**9, ns % 10**9 // 1000))
    return 0


@syscall(202, "futex")
def sys_futex(proc, addr, op, *_):
    return 0 if op & 0x7F in (1, 10) else -errno.EAGAIN  # wake: nobody waits; wait: single thread


@syscall(204, "sched_getaffinity")
def sys_sched_getaffinity(proc, pid, size, mask, *_):
    proc.uc.mem_write(mask, b"\x01" + bytes(7))
    return 8


@syscall(99, "sysinfo")
def sys_sysinfo(proc, buf, *_):
    ram = 1 << 30  # 1 GiB, all free: qsort asks before choosing merge sort
    proc.uc.mem_write(buf, SYSINFO.pack(proc.icount // 10**9, 0, 0, 0, ram, ram, 0, 0, 0, 0, 1, 0, 0, 0, 1))
    return 0


@syscall(24, "sched_yield")
def sys_sched_yield(proc, *_):
    return 0


# ---- signals ------------------------------------------------------------------------

@syscall(13, "rt_sigaction")
def sys_rt_sigaction(proc, signo, act, oldact, size, *_):
    if not 1 <= signo <= 64 or signo in (9, 19) and act:
        return -errno.EINVAL
    current = proc.signals.action(signo)
    if oldact:
        proc.uc.mem_write(oldact, KSIGACTION.pack(current.handler, current.flags, current.restorer, current.mask))
    if act:
        handler, flags, restorer, mask = KSIGACTION.unpack(proc.uc.mem_read(act, KSIGACTION.size))
        proc.signals.actions[signo] = SigAction(handler, flags, restorer, mask)
    return 0


@syscall(14, "rt_sigprocmask")
def sys_rt_sigprocmask(proc, how, new, old, size, *_):
    state = proc.signals
    if old:
        proc.uc.mem_write(old, struct.pack("<Q", state.mask))
    if new:
        (value,) = struct.unpack("<Q", proc.uc.mem_read(new, 8))
        if how == 0:
            state.mask |= value
        elif how == 1:
            state.mask &= ~value
        elif how == 2:
            state.mask = value
        else:
            return -errno.EINVAL
        state.mask &= ~((1 << 8) | (1 << 18))  # SIGKILL and SIGSTOP cannot be blocked
    return 0


@syscall(131, "sigaltstack")
def sys_sigaltstack(proc, new, old, *_):
    if old:
        proc.uc.mem_write(old, struct.pack("<Qi4xQ", *proc.signals.altstack))
    if new:
        ss_sp, ss_flags, ss_size = struct.unpack("<Qi4xQ", proc.uc.mem_read(new, 24))
        proc.signals.altstack = (ss_sp, SS_DISABLE if ss_flags & SS_DISABLE else 0, ss_size)
    return 0


@syscall(15, "rt_sigreturn")
def sys_rt_sigreturn(proc, *_):
    return proc.sigreturn()


def _send(proc, target, signo, code):
    if target not in (proc.pid, 0):
        return -errno.ESRCH
    if signo == 0:
        return 0
    if not 1 <= signo <= 64:
        return -errno.EINVAL
    proc.signals.pending.append((signo, code))
    return 0


@syscall(62, "kill")
def sys_kill(proc, pid, signo, *_):
    return _send(proc, _signed(pid) if pid >> 63 else pid, signo, SI_USER)


@syscall(200, "tkill")
def sys_tkill(proc, tid, signo, *_):
    return _send(proc, tid, signo, SI_TKILL)


@syscall(234, "tgkill")
def sys_tgkill(proc, tgid, tid, signo, *_):
    return _send(proc, tid, signo, SI_TKILL)


__all__ = ["TABLE", "SIG_DFL"]
