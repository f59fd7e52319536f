"""The one error root for bad input, and the helper that names the file and offset of a fault."""

from __future__ import annotations

import struct
from types import TracebackType
from typing import Literal


class UnwindError(Exception):
    """Root of every error unwind raises on purpose."""


class FormatError(UnwindError):
    """Input bytes do not follow their format; says which file and where."""

    def __init__(self, message: str, path: str | None = None, offset: int | None = None) -> None:
        self.message = message
        self.path = path
        self.offset = offset
        where = path or "<bytes>"
        if offset is not None:
            where += f"+{offset:#x}"
        super().__init__(f"{where}: {message}")


class FileError(UnwindError):
    """A file that cannot be opened or read (or, for an output, created): missing, a directory, no permission.

    Wraps the OSError (kept as `__cause__`); `errno` and `strerror` are the OS's, `path` the file's,
    `action` what was tried ("read" or "write").
    """

    def __init__(self, path: str, error: OSError, action: str = "read") -> None:
        self.path = path
        self.errno = error.errno
        self.strerror = error.strerror or str(error)
        self.message = f"cannot {action} ({self.strerror})"
        super().__init__(f"{path}: {self.message}")


class TruncatedError(FormatError):
    """The input ends before a record it announces."""


class StringTableError(FormatError):
    """A symbol table's string table cannot be read as ELF says (bytes outside the file, empty, no final NUL)."""


class NotELFError(FormatError):
    """The file is not an ELF file (or not a 64-bit little-endian x86-64 one)."""


class parsing:  # noqa: N801 - used as a function: `with parsing(path, offset, "what"):`
    """Name the file and offset of a decoding fault raised inside the block.

    A FormatError from a helper that did not know the file (a LEB128 reader) gets the path.
    Otherwise only data conditions are mapped: `struct.error` (an `unpack_from` past the end of the
    bytes) becomes TruncatedError; `UnicodeDecodeError` (a name that is not text) and
    `OverflowError` (a size or offset too large for the machine) become FormatError.
    Everything else propagates unchanged: an IndexError, KeyError, ValueError or
    AssertionError inside a parser is a bug (the parser must check its data and raise
    TruncatedError/FormatError itself), and tests and fuzzers must see it.
    """

    __slots__ = ("path", "offset", "what")

    def __init__(self, path: str | None, offset: int | None = None, what: str = "data") -> None:
        self.path, self.offset, self.what = path, offset, what

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Literal[False]:
        if exc is None:
            return False
        if isinstance(exc, FormatError):
            if exc.path is None and self.path is not None and type(exc) in (FormatError, TruncatedError):
                offset = self.offset if exc.offset is None else exc.offset
                raise type(exc)(exc.message, self.path, offset) from exc  # a helper's error, now naming the file
            return False
        if isinstance(exc, struct.error):
            raise TruncatedError(f"truncated {self.what} ({exc})", self.path, self.offset) from exc
        if isinstance(exc, (UnicodeDecodeError, OverflowError)):
            raise FormatError(f"corrupt {self.what} ({exc})", self.path, self.offset) from exc
        return False
