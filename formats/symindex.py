"""The on-disk container of the persistent symbol index: named flat arrays behind a checked header.

Layout (little-endian): magic, format version, a caller key (e.g. build-id + schema version),
a directory of (name, typecode, offset, length) and the arrays themselves, 8-byte aligned,
with a CRC32 over everything after the header.  Readers get zero-copy memoryviews.
"""

# Annotations are evaluated at import (no `from __future__ import annotations`): typing compiles the
# string annotation of every NamedTuple field, ~0.5 M instructions each (NOTES.md, issue 16).

import mmap
import os
import struct
import zlib
from array import array
from typing import Final, Literal, NamedTuple

from .errors import FormatError

MAGIC = b"UNWIDX01"
_HEADER = struct.Struct("<8sIIII")  # magic, container version, key length, entry count, crc32
_ENTRY = struct.Struct("<24scxxxxxxxQQ")  # name, typecode, offset, byte length
CONTAINER_VERSION = 1
_Typecode = Literal["B", "b", "H", "h", "I", "i", "Q", "q"]
# What write_index stores: the typecode read from a file (as the literal memoryview.cast takes) and its item size.
_TYPECODES: Final[dict[str, tuple[_Typecode, int]]] = {
    "B": ("B", 1), "b": ("b", 1), "H": ("H", 2), "h": ("h", 2), "I": ("I", 4), "i": ("i", 4), "Q": ("Q", 8),
    "q": ("q", 8)}


class CorruptIndexError(FormatError):
    """An index file that cannot be used: wrong magic or version, stale key, truncated or corrupt."""


class _Entry(NamedTuple):
    typecode: _Typecode
    offset: int
    length: int


def write_index(path: str, key: bytes, arrays: "dict[str, array[int] | bytes]") -> None:
    """Write the arrays atomically (temp file + rename) so readers never see half a file."""
    import tempfile

    entries: list[tuple[bytes, str, int, int]] = []
    payload = bytearray()
    for name, data in arrays.items():
        raw = data.tobytes() if isinstance(data, array) else bytes(data)
        code = data.typecode if isinstance(data, array) else "B"
        payload += b"\0" * (-len(payload) % 8)
        entries.append((name.encode(), code, len(payload), len(raw)))
        payload += raw
    directory = b"".join(_ENTRY.pack(n, c.encode(), o, l) for n, c, o, l in entries)
    body = key + b"\0" * (-len(key) % 8) + directory + bytes(payload)
    header = _HEADER.pack(MAGIC, CONTAINER_VERSION, len(key), len(entries), zlib.crc32(body))
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".tmp-index-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(header)
            fh.write(body)
        os.replace(tmp, path)
    finally:  # after os.replace the temporary name is gone; on any failure it is removed
        if os.path.exists(tmp):
            os.unlink(tmp)


class IndexFile:
    """A memory-mapped index; `array(name)` gives a typed zero-copy view."""

    def __init__(self, path: str, key: bytes, verify: bool = True):
        self.path = path
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size < _HEADER.size:
                raise CorruptIndexError("index is truncated", path, 0)
            self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        magic, version, key_len, count, crc = _HEADER.unpack_from(self._map, 0)
        if magic != MAGIC or version != CONTAINER_VERSION:
            raise CorruptIndexError("not an index of this version", path, 0)
        view = memoryview(self._map)
        if verify and zlib.crc32(view[_HEADER.size:]) != crc:
            raise CorruptIndexError("index checksum mismatch (truncated or corrupt)", path, _HEADER.size)
        pos = _HEADER.size
        if bytes(view[pos:pos + key_len]) != key:
            raise CorruptIndexError("index was built for another file or schema", path, pos)
        pos += key_len + (-key_len % 8)
        self._payload = pos + count * _ENTRY.size
        if self._payload > size:
            raise CorruptIndexError(f"directory of {count} arrays runs past the end", path, pos)
        self._entries: dict[str, _Entry] = {}
        for i in range(count):
            at = pos + i * _ENTRY.size
            raw_name, raw_code, offset, length = _ENTRY.unpack_from(self._map, at)
            name, known = raw_name.rstrip(b"\0"), _TYPECODES.get(raw_code.decode("latin-1"))
            if not name.isascii() or known is None or length % known[1]:
                raise CorruptIndexError(f"directory entry {i} is malformed", path, at)
            if self._payload + offset + length > size:
                raise CorruptIndexError(f"array {name.decode()} runs past the end", path, at)
            self._entries[name.decode()] = _Entry(known[0], offset, length)
        self._view = view

    def names(self) -> list[str]:
        return list(self._entries)

    def array(self, name: str) -> "memoryview[int]":
        entry = self._entries.get(name)
        if entry is None:
            raise CorruptIndexError(f"index has no array {name}", self.path)
        start = self._payload + entry.offset
        raw = self._view[start:start + entry.length]
        return raw if entry.typecode == "B" else raw.cast(entry.typecode)

    def bytes(self, name: str) -> bytes:
        return self.array(name).tobytes()
