"""The unwinder registry: built-ins by name, third parties through the `unwind.unwinders` entry points.

Every built-in declares the options its factory takes (typed by the factory's own annotations); an
option name it does not take is a UsageError naming the unwinder and what it does take. Options every
caller may pass to any unwinder: `resolver` and `max_depth`; `cache_dir` (where persistent tables go)
and `cache` (the caller's CFI table cache, an `unwind.cfi_tables.CfiCache`, which `unwind.Session`
owns) reach the unwinders that use them and are dropped for the others. `compare`, the
commands and the API share this one registry (`fp-naive`, `lbr-stitched` and the stitched variants
are registry names).
"""

# Annotations are evaluated at import (no `from __future__ import annotations`): typing compiles the
# string annotation of every NamedTuple field, ~0.5 M instructions each (NOTES.md, issue 16).

from importlib import import_module
from typing import Any, Callable, NamedTuple

from ..errors import UsageError
from ..model import Unwinder

UnwinderFactory = Callable[..., Unwinder]
COMMON_OPTIONS = frozenset({"resolver", "max_depth", "cache_dir", "cache"})  # any unwinder may be given these


class Builtin(NamedTuple):
    """A built-in: its factory ("module:attribute", imported on first use) and the options it takes."""

    target: str
    options: frozenset[str]


def _b(target: str, options: str) -> Builtin:
    return Builtin(target, frozenset(options.split()))


_FP = "resolver max_depth prologue functions"
_DWARF = "resolver max_depth symfs debug_dirs debug_frame cache cache_dir frame0 fp_chain"
_LBR = "resolver max_depth depth"
# name -> factory and options; imported on first use so `unwind symbolize` stays light.
BUILTINS: dict[str, Builtin] = {
    "fp": _b(".fp:FramePointerUnwinder", _FP),
    "fp-naive": _b(".fp:fp_naive", "resolver max_depth functions"),
    "auto": _b(".auto:AutoUnwinder", "resolver max_depth scan sources cache_dir cache"),
    "scan": _b(".scan:StackScanUnwinder", "resolver max_depth max_words"),
    "orc": _b(".orc:OrcUnwinder", "resolver max_depth orc_version cache_size"),
    "dwarf": _b(".dwarf:DwarfUnwinder", _DWARF),
    "lbr": _b(".lbr:LbrUnwinder", _LBR + " stitch"),
    "dwarf-stitched": _b("..stitch:dwarf_stitched", _DWARF + " lookahead"),
    "fp-stitched": _b("..stitch:fp_stitched", _FP + " lookahead"),
    "lbr-stitched": _b("..stitch:lbr_stitched", _LBR),
}
_registered: dict[str, UnwinderFactory] = {}


def register(name: str, factory: UnwinderFactory) -> None:
    """Make `factory(**options)` available as unwinder `name` (its options are not checked here)."""
    _registered[name] = factory


def _entry_points() -> Any:
    """Third-party unwinders (entry point group `unwind.unwinders`); importlib.metadata loads on demand."""
    from importlib.metadata import entry_points

    return entry_points(group="unwind.unwinders")


def available() -> list[str]:
    """Every unwinder name that `get_unwinder` accepts."""
    names = set(BUILTINS) | set(_registered)
    names.update(ep.name for ep in _entry_points())
    return sorted(names)


def builtin_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """The options built-in `name` takes, checked: an unknown name is a UsageError; `cache_dir` and
    `cache` are dropped for unwinders that keep no CFI tables."""
    takes = BUILTINS[name].options
    unknown = sorted(set(options) - takes - COMMON_OPTIONS)
    if unknown:
        raise UsageError(f"unwinder {name!r} has no option {', '.join(map(repr, unknown))} "
                         f"(it takes: {', '.join(sorted(takes))})")
    return {key: value for key, value in options.items() if key in takes}


def get_unwinder(name: str, **options: Any) -> Unwinder:
    """An unwinder by name, built with `options` (see the module docstring)."""
    factory = _registered.get(name)
    if factory is None and name in BUILTINS:
        module, attr = BUILTINS[name].target.split(":")
        factory = getattr(import_module(module, __name__), attr)
        options = builtin_options(name, options)
    if factory is None:
        for ep in _entry_points():
            if ep.name == name:
                factory = ep.load()
                break
    if factory is None:
        raise UsageError(f"unknown unwinder {name!r} (available: {', '.join(available())})")
    unwinder: Unwinder = factory(**options)
    return unwinder
