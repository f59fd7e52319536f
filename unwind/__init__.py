"""unwind: stack unwinding and symbolisation for x86-64 Linux.

The public API (DESIGN.md, "Python API"): `Session` (perf, core, symbolize, stacks, unwind),
`write`, `compare`, `get_unwinder`, the symbolised `Frame`, the `Stack`, and `UnwindError`, the
root of every error the library raises on bad input. Names are imported on first use, so
`import unwind` stays cheap for the command line.
"""

from __future__ import annotations

import sys

from formats.errors import FormatError, UnwindError

TYPE_CHECKING = False  # typing itself is not imported: `import unwind` stays cheap (mypy treats this as True)
if TYPE_CHECKING:
    from typing import Any

    from formats.stack import Frame, Stack, StopReason

    from .api import compare, write
    from .errors import UsageError
    from .session import Session
    from .unwinders import get_unwinder

__all__ = ["Session", "Frame", "Stack", "StopReason", "write", "compare", "get_unwinder", "UnwindError",
           "FormatError", "UsageError"]
__version__ = "0.1.0"

# public name -> module that defines it, imported on first access (PEP 562).
_LAZY = {
    "Session": "unwind.session",
    "Frame": "formats.stack",
    "Stack": "formats.stack",
    "StopReason": "formats.stack",
    "write": "unwind.api",
    "compare": "unwind.api",
    "get_unwinder": "unwind.unwinders",
    "UsageError": "unwind.errors",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'unwind' has no attribute {name!r}")
    value = getattr(__import__(module, fromlist=[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from types import ModuleType as _ModuleType
else:
    _ModuleType = type(sys)  # types.ModuleType, without importing types


class _Package(_ModuleType):
    """`unwind.compare` is the API function, and `unwind/compare.py` the module it runs: importing the
    module (`from unwind.compare import ...`) must not rebind the package's `compare` to it."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "compare" and isinstance(value, _ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
