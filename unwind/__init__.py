"""unwind: stack unwinding and symbolisation for x86-64 Linux."""

from formats.errors import FormatError, UnwindError

__all__ = ["UnwindError", "FormatError"]
__version__ = "0.1.0"
