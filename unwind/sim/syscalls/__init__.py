"""Linux x86-64 system calls the emulated program may make: one handler per number, in a table.

A handler takes the process and the six argument registers and returns the value for rax
(negative errno on failure). Numbers without a handler return -ENOSYS and are counted in
`Process.unsupported`, so a run that needed one is never silently taken for a good run.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Callable, TypeVar

if TYPE_CHECKING:
    from ..machine import Process

MAP_FIXED, MAP_ANONYMOUS, MAP_FIXED_NOREPLACE = 0x10, 0x20, 0x100000
AT_FDCWD, AT_EMPTY_PATH = -100, 0x1000
O_ACCMODE, O_CREAT = 3, 0o100
ARCH_SET_FS, ARCH_GET_FS = 0x1002, 0x1003
TCGETS, TIOCGWINSZ = 0x5401, 0x5413
S_IFIFO, S_IFREG, S_IFDIR = 0o010000, 0o100000, 0o040000
STAT = struct.Struct("<QQQIIIIQqqqqqqqqq24x")
SYSINFO = struct.Struct("<q3Q6QHH4xQQI4x")
RLIM_INFINITY = (1 << 64) - 1
MAX_RW_COUNT = 0x7FFFF000  # the kernel's cap on one read/write (INT_MAX & PAGE_MASK)
INT_MAX = (1 << 31) - 1

# A handler takes the process and the six argument registers (most name the first few, then `*_`).
Handler = Callable[["Process", int, int, int, int, int, int], int]
H = TypeVar("H", bound=Handler)
TABLE: dict[int, tuple[str, Handler]] = {}


def syscall(number: int, name: str) -> Callable[[H], H]:
    """Register the decorated function as the handler of system call `number`."""
    def add(func: H) -> H:
        TABLE[number] = (name, func)
        return func
    return add


def signed64(value: int) -> int:
    return value - (1 << 64) if value & (1 << 63) else value


def c_int(value: int) -> int:
    """A C `int` argument: the low 32 bits, signed (AT_FDCWD arrives as 0xffffff9c)."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & (1 << 31) else value


def user_buffer(proc: Process, address: int, size: int) -> bool:
    """Whether [address, address + size) is mapped guest memory, as the kernel's copy_from/to_user
    would find it (else the call answers EFAULT); callers cap `size` first as the kernel does."""
    return proc.space.is_mapped(address, address + size)


def read_cstring(proc: Process, address: int, limit: int = 4096) -> str:
    """A NUL-terminated string from emulated memory, read in pieces that never cross a page it does not need."""
    out = bytearray()
    while len(out) < limit:
        at = address + len(out)
        chunk = bytes(proc.uc.mem_read(at, min(64, 0x1000 - at % 0x1000)))
        end = chunk.find(b"\0")
        if end >= 0:
            out += chunk[:end]
            break
        out += chunk
    return out.decode("utf-8", "surrogateescape")


from . import fs, mm, process, sig  # noqa: E402,F401  (importing them registers their handlers)
