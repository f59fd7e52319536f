"""vDSO images: this process's own (the emulator maps it), or a recording's by build-id; their function names."""

from __future__ import annotations

import os
from bisect import bisect_right

from formats.elf import ElfFile
from formats.errors import FormatError

from .debuginfo import perf_cached_file

VDSO = "[vdso]"
_DATA_PAGES = ("[vvar]", "[vvar_vclock]")


def own_vdso() -> tuple[int, int, bytes] | None:
    """(start, start of its data pages, image) from /proc/self/maps and /proc/self/mem; None if unreadable."""
    from formats.procmaps import parse_maps

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


def vdso_image(build_id: bytes | None) -> bytes | None:
    """The vDSO ELF image a recording's `[vdso]` mapping holds: the running kernel's own when its build-id
    is the recorded one (or none was recorded), else perf's build-id cache (`[vdso]/<build-id>/vdso`, which
    `perf record` fills: unwind.debuginfo.perf_buildid_dirs); None when neither has it."""
    own = own_vdso()
    if own is not None and (build_id is None or _build_id(own[2]) == build_id):
        return own[2]
    path = perf_cached_file(os.path.join(VDSO, build_id.hex(), "vdso")) if build_id else None
    if path is not None:
        with open(path, "rb") as fh:
            return fh.read()
    return None


def _build_id(image: bytes) -> bytes | None:
    try:
        return ElfFile(None, image).build_id
    except FormatError:
        return None


class VdsoNames:
    """Function names of one vDSO image, as perf names them (its .dynsym: `__vdso_clock_gettime` wins
    over the weak `clock_gettime` alias)."""

    def __init__(self, elf: ElfFile):
        from .symtable import perf_name_table

        table = perf_name_table(elf)
        self._starts = [address for address, *_ in table]
        self._table = table

    def name_at(self, vaddr: int) -> str | None:
        i = bisect_right(self._starts, vaddr) - 1
        if i < 0:
            return None
        address, size, name, _file = self._table[i]
        return name if vaddr < address + max(size, 1) else None
