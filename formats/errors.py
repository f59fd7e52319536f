"""The one error root for bad input, and the helper that names the file and offset of a fault."""

from __future__ import annotations

import struct


class UnwindError(Exception):
    """Root of every error unwind raises on purpose."""


class FormatError(UnwindError):
    """Input bytes do not follow their format; says which file and where."""

    def __init__(self, message: str, path: str | None = None, offset: int | None = None):
        self.message = message
        self.path = path
        self.offset = offset
        where = path or "<bytes>"
        if offset is not None:
            where += f"+{offset:#x}"
        super().__init__(f"{where}: {message}")


class TruncatedError(FormatError):
    """The input ends before a record it announces."""


class NotELFError(FormatError):
    """The file is not an ELF file (or not a 64-bit little-endian x86-64 one)."""


class parsing:  # noqa: N801 - used as a function: `with parsing(path, offset, "what"):`
    """Turn low-level decoding faults inside the block into a FormatError naming file and offset."""

    __slots__ = ("path", "offset", "what")

    def __init__(self, path: str | None, offset: int | None = None, what: str = "data"):
        self.path, self.offset, self.what = path, offset, what

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, exc, tb) -> bool:
        if exc is None or isinstance(exc, FormatError):
            return False
        if isinstance(exc, (struct.error, IndexError)):
            raise TruncatedError(f"truncated {self.what} ({exc})", self.path, self.offset) from exc
        if isinstance(exc, (ValueError, KeyError, OverflowError, UnicodeDecodeError, AssertionError)):
            raise FormatError(f"corrupt {self.what} ({exc})", self.path, self.offset) from exc
        return False
