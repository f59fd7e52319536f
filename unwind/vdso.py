"""This process's own vDSO image: the emulator maps it, the dwarf unwinder reads [vdso] frames' CFI from it."""

from __future__ import annotations

from formats.errors import FormatError
from formats.procmaps import parse_maps

_DATA_PAGES = ("[vvar]", "[vvar_vclock]")


def own_vdso() -> tuple[int, int, bytes] | None:
    """(start, start of its data pages, image) from /proc/self/maps and /proc/self/mem; None if unreadable."""
    try:
        with open("/proc/self/maps") as fh:
            entries = parse_maps(fh.read(), "/proc/self/maps")
        vdso = next(e for e in entries if e.path == "[vdso]")
        data = min((e.start for e in entries if e.path in _DATA_PAGES), default=vdso.start)
        with open("/proc/self/mem", "rb") as mem:
            mem.seek(vdso.start)
            return vdso.start, data, mem.read(vdso.end - vdso.start)
    except (OSError, StopIteration, FormatError):
        return None
