"""The unwinder registry: built-ins by name, third parties through the `unwind.unwinders` entry points."""

from __future__ import annotations

from importlib import import_module
from typing import Callable

from ..errors import UsageError
from ..model import Unwinder

UnwinderFactory = Callable[..., Unwinder]

# name -> "module:attribute" of a factory; imported on first use so `unwind symbolize` stays light.
_BUILTINS: dict[str, str] = {}
_registered: dict[str, UnwinderFactory] = {}


def register(name: str, factory: UnwinderFactory) -> None:
    """Make `factory(**options)` available as unwinder `name`."""
    _registered[name] = factory


def _builtin(name: str, target: str) -> None:
    _BUILTINS[name] = target


def _entry_points():
    """Third-party unwinders (entry point group `unwind.unwinders`); importlib.metadata loads on demand."""
    from importlib.metadata import entry_points

    return entry_points(group="unwind.unwinders")


def available() -> list[str]:
    """Every unwinder name that `get_unwinder` accepts."""
    names = set(_BUILTINS) | set(_registered)
    names.update(ep.name for ep in _entry_points())
    return sorted(names)


def get_unwinder(name: str, **options) -> Unwinder:
    """An unwinder by name, built with `options`."""
    factory = _registered.get(name)
    if factory is None and name in _BUILTINS:
        module, attr = _BUILTINS[name].split(":")
        factory = getattr(import_module(module, __name__), attr)
    if factory is None:
        for ep in _entry_points():
            if ep.name == name:
                factory = ep.load()
                break
    if factory is None:
        raise UsageError(f"unknown unwinder {name!r} (available: {', '.join(available())})")
    return factory(**options)


_builtin("fp", ".fp:FramePointerUnwinder")
_builtin("auto", ".auto:AutoUnwinder")
_builtin("scan", ".scan:StackScanUnwinder")
_builtin("orc", ".orc:OrcUnwinder")
_builtin("dwarf", ".dwarf:DwarfUnwinder")
_builtin("lbr", ".lbr:LbrUnwinder")
_builtin("dwarf-stitched", "..stitch:dwarf_stitched")
_builtin("fp-stitched", "..stitch:fp_stitched")
_builtin("lbr-stitched", "..stitch:lbr_stitched")
