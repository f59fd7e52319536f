"""File system calls, read-only over host files (under the sysroot), and writes to stdout/stderr (captured)."""

from __future__ import annotations

import errno
import os
import struct
from typing import TYPE_CHECKING

from ..files import FileHandle
from . import (AT_EMPTY_PATH, AT_FDCWD, MAX_RW_COUNT, O_ACCMODE, O_CREAT, S_IFDIR, S_IFIFO, S_IFREG, STAT, c_int,
               read_cstring, signed64, syscall, user_buffer)

if TYPE_CHECKING:
    from ..machine import Process


def _open(proc: Process, dirfd: int, path_ptr: int, flags: int) -> int:
    path = read_cstring(proc, path_ptr)
    if flags & (O_ACCMODE | O_CREAT):
        proc.note_unsupported(f"open for writing {path}")
        return -errno.EACCES
    if not os.path.isabs(path) and c_int(dirfd) != AT_FDCWD:
        return -errno.ENOENT
    handle = proc.files.open(path)
    if isinstance(handle, int):
        return handle
    proc.opened.append(handle.display)
    return proc.new_fd(handle)


@syscall(2, "open")
def sys_open(proc: Process, path: int, flags: int, *_: int) -> int:
    return _open(proc, AT_FDCWD & ((1 << 64) - 1), path, flags)


@syscall(257, "openat")
def sys_openat(proc: Process, dirfd: int, path: int, flags: int, *_: int) -> int:
    return _open(proc, dirfd, path, flags)


@syscall(3, "close")
def sys_close(proc: Process, fd: int, *_: int) -> int:
    if proc.fds.pop(fd, None) is None and fd > 2:
        return -errno.EBADF
    return 0


def _read_into(proc: Process, handle: FileHandle, buf: int, count: int, position: int) -> int:
    data = handle.data[position:position + count]
    proc.uc.mem_write(buf, bytes(data))
    return len(data)


@syscall(0, "read")
def sys_read(proc: Process, fd: int, buf: int, count: int, *_: int) -> int:
    handle = proc.stdin if fd == 0 else proc.fds.get(fd)
    if handle is None:
        return -errno.EBADF
    n = _read_into(proc, handle, buf, count, handle.pos)
    handle.pos += n
    return n


@syscall(17, "pread64")
def sys_pread64(proc: Process, fd: int, buf: int, count: int, offset: int, *_: int) -> int:
    handle = proc.fds.get(fd)
    if handle is None:
        return -errno.EBADF
    return _read_into(proc, handle, buf, count, offset)


@syscall(221, "fadvise64")
def sys_fadvise64(proc: Process, fd: int, *_: int) -> int:
    return 0 if fd in proc.fds else -errno.ESPIPE if fd in (0, 1, 2) else -errno.EBADF


@syscall(8, "lseek")
def sys_lseek(proc: Process, fd: int, offset: int, whence: int, *_: int) -> int:
    handle = proc.fds.get(fd)
    if handle is None:
        return -errno.ESPIPE if fd <= 2 else -errno.EBADF
    base = {0: 0, 1: handle.pos, 2: len(handle.data)}.get(whence)
    if base is None:
        return -errno.EINVAL
    handle.pos = base + signed64(offset)
    return handle.pos


def _stat_bytes(size: int, mode: int, ino: int) -> bytes:
    return STAT.pack(0x803, ino, 1, mode, 0, 0, 0, 0, size, 4096, (size + 511) // 512, 0, 0, 0, 0, 0, 0)


def _fd_stat(proc: Process, fd: int) -> bytes | int:
    if fd in (0, 1, 2):
        return _stat_bytes(0, S_IFIFO | 0o600, 100 + fd)
    handle = proc.fds.get(fd)
    if handle is None:
        return -errno.EBADF
    return _stat_bytes(len(handle.data), (S_IFDIR if handle.is_dir else S_IFREG) | 0o755, handle.ino)


@syscall(5, "fstat")
def sys_fstat(proc: Process, fd: int, buf: int, *_: int) -> int:
    st = _fd_stat(proc, fd)
    if isinstance(st, int):
        return st
    proc.uc.mem_write(buf, st)
    return 0


@syscall(262, "newfstatat")
def sys_newfstatat(proc: Process, dirfd: int, path_ptr: int, buf: int, flags: int, *_: int) -> int:
    path = read_cstring(proc, path_ptr)
    if not path and flags & AT_EMPTY_PATH:
        return sys_fstat(proc, c_int(dirfd), buf)
    handle = proc.files.open(path)
    if isinstance(handle, int):
        return handle
    proc.uc.mem_write(buf, _stat_bytes(len(handle.data), (S_IFDIR if handle.is_dir else S_IFREG) | 0o755,
                                       handle.ino))
    return 0


# mask, blksize, attributes, nlink, uid, gid, mode, ino, size, blocks, attr_mask
STATX = struct.Struct("<IIQIIIH2xQQQQ")
STATX_BASIC_STATS = 0x7FF
DIRENT64 = struct.Struct("<QqHB")  # d_ino, d_off, d_reclen, d_type; then the name, NUL, padding to 8
DT_DIR, DT_REG, DT_LNK = 4, 8, 10


@syscall(332, "statx")
def sys_statx(proc: Process, dirfd: int, path_ptr: int, flags: int, mask: int, buf: int, *_: int) -> int:
    path = read_cstring(proc, path_ptr)
    if not path and flags & AT_EMPTY_PATH:
        fd = c_int(dirfd)
        if fd in (0, 1, 2):
            size, mode, ino = 0, S_IFIFO | 0o600, 100 + fd
        elif fd in proc.fds:
            handle = proc.fds[fd]
            size, mode, ino = len(handle.data), (S_IFDIR if handle.is_dir else S_IFREG) | 0o755, handle.ino
        else:
            return -errno.EBADF
    else:
        if not os.path.isabs(path) and c_int(dirfd) != AT_FDCWD:
            return -errno.ENOENT
        found = proc.files.open(path)
        if isinstance(found, int):
            return found
        size, mode, ino = len(found.data), (S_IFDIR if found.is_dir else S_IFREG) | 0o755, found.ino
    head = STATX.pack(STATX_BASIC_STATS, 4096, 0, 1, 0, 0, mode, ino, size, (size + 511) // 512, 0)
    proc.uc.mem_write(buf, head.ljust(256, b"\0"))  # timestamps 0, device numbers 0
    return 0


@syscall(217, "getdents64")
def sys_getdents64(proc: Process, fd: int, buf: int, count: int, *_: int) -> int:
    handle = proc.fds.get(fd)
    if handle is None:
        return -errno.EBADF
    if not handle.is_dir:
        return -errno.ENOTDIR
    names = [".", ".."] + os.listdir(handle.host)  # the host's readdir order, as a native run sees it
    out = bytearray()
    while handle.pos < len(names):
        name = names[handle.pos].encode("utf-8", "surrogateescape")
        full = os.path.join(handle.host, names[handle.pos])
        kind = DT_LNK if os.path.islink(full) else DT_DIR if os.path.isdir(full) else DT_REG
        size = (DIRENT64.size + len(name) + 1 + 7) & ~7
        if len(out) + size > count:
            if not out:
                return -errno.EINVAL
            break
        record = DIRENT64.pack(os.lstat(full).st_ino, handle.pos + 1, size, kind) + name
        out += record.ljust(size, b"\0")
        handle.pos += 1
    proc.uc.mem_write(buf, bytes(out))
    return len(out)


@syscall(4, "stat")
def sys_stat(proc: Process, path_ptr: int, buf: int, *_: int) -> int:
    return sys_newfstatat(proc, AT_FDCWD & ((1 << 64) - 1), path_ptr, buf, 0)


@syscall(21, "access")
def sys_access(proc: Process, path_ptr: int, mode: int, *_: int) -> int:
    handle = proc.files.open(read_cstring(proc, path_ptr))
    return handle if isinstance(handle, int) else 0


@syscall(269, "faccessat")
def sys_faccessat(proc: Process, dirfd: int, path_ptr: int, mode: int, *_: int) -> int:
    return sys_access(proc, path_ptr, mode)


@syscall(89, "readlink")
def sys_readlink(proc: Process, path_ptr: int, buf: int, size: int, *_: int) -> int:
    path = read_cstring(proc, path_ptr)
    if path != "/proc/self/exe":
        return -errno.EINVAL
    target = proc.exe_path.encode()[:size]
    proc.uc.mem_write(buf, target)
    return len(target)


@syscall(267, "readlinkat")
def sys_readlinkat(proc: Process, dirfd: int, path_ptr: int, buf: int, size: int, *_: int) -> int:
    return sys_readlink(proc, path_ptr, buf, size)


@syscall(16, "ioctl")
def sys_ioctl(proc: Process, fd: int, request: int, *_: int) -> int:
    return -errno.ENOTTY if fd in (0, 1, 2) or fd in proc.fds else -errno.EBADF


@syscall(72, "fcntl")
def sys_fcntl(proc: Process, fd: int, cmd: int, *_: int) -> int:
    return 0 if fd in (0, 1, 2) or fd in proc.fds else -errno.EBADF


@syscall(1, "write")
def sys_write(proc: Process, fd: int, buf: int, count: int, *_: int) -> int:
    if fd not in (1, 2):
        return -errno.EBADF
    count = min(count, MAX_RW_COUNT)
    if not user_buffer(proc, buf, count):
        return -errno.EFAULT
    proc.output[fd] += bytes(proc.uc.mem_read(buf, count))
    return count


@syscall(20, "writev")
def sys_writev(proc: Process, fd: int, iov: int, iovcnt: int, *_: int) -> int:
    if fd not in (1, 2):
        return -errno.EBADF
    total = 0
    for i in range(iovcnt):
        base, length = struct.unpack("<QQ", proc.uc.mem_read(iov + 16 * i, 16))
        length = min(length, MAX_RW_COUNT - total)
        if not user_buffer(proc, base, length):
            return total or -errno.EFAULT
        proc.output[fd] += bytes(proc.uc.mem_read(base, length))
        total += length
    return total


@syscall(79, "getcwd")
def sys_getcwd(proc: Process, buf: int, size: int, *_: int) -> int:
    cwd = os.getcwd().encode() + b"\0"
    if len(cwd) > size:
        return -errno.ERANGE
    proc.uc.mem_write(buf, cwd)
    return len(cwd)
