"""Host files the emulated program opens (read-only): contents, the path /proc/PID/maps would show, build-id."""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from functools import lru_cache

from formats.elf import ElfFile
from formats.errors import UnwindError

from .loader import guest_path, host_path


@dataclass(slots=True)
class FileHandle:
    """One open file description: the whole file in memory and a position."""

    display: str
    data: bytes
    is_dir: bool
    ino: int
    build_id: bytes | None
    pos: int = 0
    host: str = ""


@lru_cache(maxsize=64)
def _load(real: str) -> tuple[bytes, bytes | None, int]:
    with open(real, "rb") as fh:
        data = fh.read()
    build_id = None
    if data[:4] == b"\x7fELF":
        try:
            build_id = ElfFile(real, data=data).build_id
        except UnwindError:
            build_id = None
    return data, build_id, os.stat(real).st_ino


def open_host_file(path: str, sysroot: str | None) -> FileHandle | int:
    """Open `path` as the program sees it (under `sysroot` first); a negative errno when it cannot be."""
    real = host_path(path, sysroot)
    if not os.path.exists(real):
        return -errno.ENOENT
    shown = guest_path(real, sysroot)
    if os.path.isdir(real):
        return FileHandle(shown, b"", True, os.stat(real).st_ino, None, host=real)
    try:
        data, build_id, ino = _load(os.path.realpath(real))
    except OSError as exc:
        return -(exc.errno or errno.EIO)
    return FileHandle(shown, data, False, ino, build_id, host=real)
