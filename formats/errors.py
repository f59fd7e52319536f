"""The one error root for bad input, and the helper that names the file and offset of a fault."""

from __future__ import annotations

import struct
from contextlib import contextmanager
from typing import Iterator


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


@contextmanager
def parsing(path: str | None, offset: int | None = None, what: str = "data") -> Iterator[None]:
    """Turn low-level decoding faults inside the block into a FormatError naming file and offset."""
    try:
        yield
    except FormatError:
        raise
    except (struct.error, IndexError) as exc:
        raise TruncatedError(f"truncated {what} ({exc})", path, offset) from exc
    except (ValueError, KeyError, OverflowError, UnicodeDecodeError, AssertionError) as exc:
        raise FormatError(f"corrupt {what} ({exc})", path, offset) from exc
