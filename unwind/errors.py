"""Errors the engine raises; all derive from the one `UnwindError` root in formats.errors."""

from formats.errors import FileError, FormatError, NotELFError, TruncatedError, UnwindError


class UsageError(UnwindError):
    """The caller asked for something that cannot be done (unknown unwinder, missing file, bad flag)."""


class PeerWarning(UserWarning):
    """A warning worded as the peer tool words it, printed as it prints it: `warning: MESSAGE`, with no
    `unwind COMMAND:` prefix (llvm-symbolizer's DWARF warnings)."""


class MemoryReadError(UnwindError):
    """An address is in neither the stack snapshot nor any mapped file."""

    def __init__(self, address: int, size: int):
        self.address = address
        self.size = size
        super().__init__(f"cannot read {size} bytes at {address:#x}")


__all__ = ["UnwindError", "FileError", "FormatError", "NotELFError", "TruncatedError", "UsageError", "MemoryReadError",
           "PeerWarning"]
