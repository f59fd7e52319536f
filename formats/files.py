"""Opening input files: one place where the OS's errors become the library's FileError."""

from __future__ import annotations

import mmap
import os

from .errors import FileError

# The bytes a parser reads: a file's mapping, or bytes from a caller or a section (all have .find);
# View adds memoryviews (perf.data records are read in place).
Data = bytes | bytearray | mmap.mmap
View = Data | memoryview


def map_file(path: str) -> bytes | mmap.mmap:
    """The contents of `path`, memory-mapped read-only (b"" for an empty file, which cannot be mapped).

    Raises FileError naming the path when it cannot be opened or mapped (missing, a directory,
    no permission, not a regular file).
    """
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
    except OSError as exc:
        raise FileError(path, exc) from exc


def read_file(path: str) -> bytes:
    """The whole contents of `path` as bytes (for text formats parsed in one go); FileError as map_file."""
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise FileError(path, exc) from exc
