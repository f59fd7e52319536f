"""Host files the emulated program opens (read-only): contents, the path /proc/PID/maps would show, build-id."""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass

from cachetools import LRUCache

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


class HostFiles:
    """The host files one emulated process opens, each read once: a bounded LRU (cachetools) of whole
    files by real path, owned by the Process (nothing is kept between processes)."""

    def __init__(self, sysroot: str | None, maxsize: int = 64) -> None:
        self.sysroot = sysroot
        self._files: LRUCache[str, tuple[bytes, bytes | None, int]] = LRUCache(maxsize)
        self.hits = self.misses = 0

    def open(self, path: str) -> FileHandle | int:
        """Open `path` as the program sees it (under the sysroot first); a negative errno when it cannot be."""
        real = host_path(path, self.sysroot)
        if not os.path.exists(real):
            return -errno.ENOENT
        shown = guest_path(real, self.sysroot)
        if os.path.isdir(real):
            return FileHandle(shown, b"", True, os.stat(real).st_ino, None, host=real)
        try:
            data, build_id, ino = self._load(os.path.realpath(real))
        except OSError as exc:
            return -(exc.errno or errno.EIO)
        return FileHandle(shown, data, False, ino, build_id, host=real)

    def _load(self, real: str) -> tuple[bytes, bytes | None, int]:
        found = self._files.get(real)
        if found is not None:
            self.hits += 1
            return found
        self.misses += 1
        with open(real, "rb") as fh:
            data = fh.read()
        build_id = None
        if data[:4] == b"\x7fELF":
            try:
                build_id = ElfFile(real, data=data).build_id
            except UnwindError:
                build_id = None
        found = self._files[real] = (data, build_id, os.stat(real).st_ino)
        return found
