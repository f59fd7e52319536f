"""The one way compressed input becomes bytes: zlib, zstd and xz, bounded before and while inflating.

Every compressed read in `formats/` goes through `inflate`: SHF_COMPRESSED sections (zlib,
zstd), legacy `.zdebug_*` sections (zlib), MiniDebugInfo's `.gnu_debugdata` (xz), compressed kernel
modules (`.ko.xz`, `.ko.gz`, `.ko.zst`).  A hostile
file cannot make us allocate more than it is allowed to:

1. the declared size (ELF's `ch_size`, `.zdebug`'s big-endian size) is checked *before*
   anything is inflated, against the caller's `limit` and against `CEILING`;
2. decompression streams with an output cap of `declared + 1` bytes (or `limit + 1` when
   nothing is declared), so a stream that inflates past its declaration stops there, and a
   zstd frame header that claims a huge content size allocates nothing;
3. a stream that gives fewer or more bytes than it declared, or that is not a valid stream,
   is a `DecompressError` naming the file and offset.

`budget(file_size)` is the limit a whole file gets for the sum of its declared sizes: real
debug files stay under 13x their size in total (83x for one small section: the Debian -dbg
files measured in NOTES.md, "Bounds"), so `max(FLOOR, RATIO * file_size)` leaves room for
every real file while a 2 MB bomb gets 64 MiB, not 4 GB.
"""

from __future__ import annotations

import zlib
from enum import IntEnum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from zstandard import ZstdDecompressionWriter

from .errors import FormatError

if TYPE_CHECKING:
    class _Decompressor(Protocol):
        """zlib's and lzma's decompressor objects: output bounded by max_length, `eof` at the end marker."""

        @property
        def eof(self) -> bool: ...

        def decompress(self, data: bytes | memoryview, max_length: int, /) -> bytes: ...


FLOOR = 64 << 20  # bytes any file may inflate to in total, whatever its size
RATIO = 32  # ... or this many times its own size, if more
CEILING = 2 << 30  # no single stream inflates past this, whatever the file's size


class Codec(IntEnum):
    """The compressions we read; ZLIB and ZSTD carry ELF's ch_type values."""

    ZLIB = 1
    ZSTD = 2
    XZ = 0x100
    GZIP = 0x101


class DecompressError(FormatError):
    """A compressed stream is corrupt, or inflates to another size than it declares."""


class TooLargeError(FormatError):
    """Input declares a size beyond the bound we allow for it; nothing was allocated."""


def budget(file_size: int) -> int:
    """How many inflated bytes, in total, a file of `file_size` bytes may declare."""
    return min(CEILING, max(FLOOR, RATIO * file_size))


def inflate(codec: Codec, payload: bytes | memoryview, declared: int | None, *, limit: int = CEILING,
            path: str | None = None, offset: int | None = None, what: str = "compressed data") -> bytes:
    """`payload` inflated; exactly `declared` bytes when a size is declared, else at most `limit`."""
    cap = min(limit, CEILING)
    if declared is not None:
        if declared < 0 or declared > cap:
            raise TooLargeError(f"{what} declares {declared} bytes inflated, more than the limit {cap}", path, offset)
        cap = declared
    if codec in (Codec.ZLIB, Codec.GZIP):
        out = _zlib(payload, cap, path, offset, what, 31 if codec == Codec.GZIP else 15)
    elif codec == Codec.ZSTD:
        out = _zstd(payload, cap, path, offset, what)
    elif codec == Codec.XZ:
        out = _xz(payload, cap, path, offset, what)
    else:
        raise DecompressError(f"unknown compression {codec!r} in {what}", path, offset)
    if len(out) > cap:
        if declared is None:
            raise TooLargeError(f"{what} inflates past the limit of {cap} bytes", path, offset)
        raise DecompressError(f"{what} inflates past the {declared} bytes it declares", path, offset)
    if declared is not None and len(out) != declared:
        raise DecompressError(f"{what} inflated to {len(out)} bytes, header says {declared}", path, offset)
    return out


def _zlib(payload: bytes | memoryview, cap: int, path: str | None, offset: int | None, what: str,
          wbits: int) -> bytes:
    name = "gzip" if wbits > 15 else "zlib"
    return _bounded(zlib.decompressobj(wbits), zlib.error, name, payload, cap, path, offset, what)


def _zstd(payload: bytes | memoryview, cap: int, path: str | None, offset: int | None, what: str) -> bytes:
    import zstandard  # only files with zstd sections pay for the import

    reader = zstandard.ZstdDecompressor().stream_reader(bytes(payload), read_across_frames=True)
    try:
        return reader.read(cap + 1)
    except zstandard.ZstdError as exc:
        raise DecompressError(f"corrupt zstd stream in {what} ({exc})", path, offset) from exc


def _xz(payload: bytes | memoryview, cap: int, path: str | None, offset: int | None, what: str) -> bytes:
    import lzma  # here: only .gnu_debugdata and xz sections need it, and a perf.data reader imports this module

    engine = lzma.LZMADecompressor(format=lzma.FORMAT_AUTO, memlimit=128 << 20)
    return _bounded(engine, lzma.LZMAError, "xz", payload, cap, path, offset, what)


def _bounded(engine: _Decompressor, error: type[Exception], name: str, payload: bytes | memoryview, cap: int,
             path: str | None, offset: int | None, what: str) -> bytes:
    """At most cap + 1 bytes out of a zlib/lzma decompressor object (whose decompress takes a limit);
    its own error and a stream that ends before its end marker become DecompressError."""
    try:
        out: bytes = engine.decompress(payload, cap + 1)
    except error as exc:
        raise DecompressError(f"corrupt {name} stream in {what} ({exc})", path, offset) from exc
    if len(out) <= cap and not engine.eof:
        raise DecompressError(f"{name} stream in {what} ends early", path, offset)
    return out


class ZstdStream:
    """One zstd stream fed piece by piece (perf's COMPRESSED records), every piece's output capped.

    zstandard's `decompressobj` has no output limit, so one 64 KiB record could inflate to
    gigabytes before a size check; here the decompressor writes into a sink that stops at the cap.
    """

    __slots__ = ("_sink", "_writer")

    def __init__(self) -> None:
        self._writer: ZstdDecompressionWriter | None = None
        self._sink = _CappedSink()

    def feed(self, piece: bytes | memoryview, cap: int, path: str | None = None, offset: int | None = None) -> bytes:
        """What `piece` inflates to, continuing the stream; DecompressError/TooLargeError reset the stream."""
        import zstandard

        if self._writer is None:
            self._writer = zstandard.ZstdDecompressor().stream_writer(self._sink,  # type: ignore[arg-type]
                                                                          write_return_read=True)
        self._sink.start(cap)
        try:
            self._writer.write(bytes(piece))
        except zstandard.ZstdError as exc:
            self._writer = None
            raise DecompressError(f"corrupt zstd stream ({exc})", path, offset) from exc
        except _Overflow as exc:
            self._writer = None
            raise TooLargeError(f"zstd stream inflates past {cap} bytes", path, offset) from exc
        return self._sink.take()


class _Overflow(Exception):
    """Raised by the sink through zstandard's writer when a piece inflates past its cap."""


class _CappedSink:
    __slots__ = ("_cap", "_count", "_parts")

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._count = 0
        self._cap = 0

    def start(self, cap: int) -> None:
        self._parts, self._count, self._cap = [], 0, cap

    def write(self, chunk: bytes | memoryview) -> int:
        self._count += len(chunk)
        if self._count > self._cap:
            raise _Overflow()
        self._parts.append(bytes(chunk))
        return len(chunk)

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts = []
        return out
