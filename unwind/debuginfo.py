"""Separate debug files: by build-id under debug directories, and by .gnu_debuglink (CRC checked).

Kept apart from unwind.modules so that symbolising a file imports no more than it needs.
"""

from __future__ import annotations

import os

from formats.elf import ElfFile, gnu_debuglink_crc
from formats.errors import UnwindError

DEFAULT_DEBUG_DIRS = ("/usr/lib/debug",)


def build_id_path(debug_dir: str | os.PathLike, build_id: bytes, suffix: str = ".debug") -> str:
    """`DIR/.build-id/xx/rest.debug`, the layout of /usr/lib/debug."""
    hexid = build_id.hex()
    return os.path.join(debug_dir, ".build-id", hexid[:2], f"{hexid[2:]}{suffix}")


def find_debug_file(elf: ElfFile, debug_dirs=DEFAULT_DEBUG_DIRS, fallback: str | None = None) -> str | None:
    """The separate debug file of `elf`: by build-id under each debug dir, then by .gnu_debuglink (CRC checked).

    `fallback` (llvm-symbolizer --fallback-debug-path) is tried as `<fallback>/<binary's dir>/<debuglink>`
    before the debug directories, as LLVM puts it in place of /usr/lib/debug.
    """
    if elf.build_id:
        for directory in debug_dirs:
            candidate = build_id_path(directory, elf.build_id)
            if os.path.isfile(candidate) and _same_build_id(candidate, elf.build_id):
                return candidate
    link = elf.debuglink
    if link and elf.path:
        name, crc = link
        here = os.path.dirname(os.path.realpath(elf.path))
        candidates = [os.path.join(here, name), os.path.join(here, ".debug", name)]
        roots = ((fallback,) if fallback else ()) + tuple(debug_dirs)
        candidates += [os.path.join(d, here.lstrip("/"), name) for d in roots]
        for candidate in candidates:
            if os.path.isfile(candidate) and candidate != elf.path and gnu_debuglink_crc(candidate) == crc:
                return candidate
    return None


def _same_build_id(path: str, build_id: bytes) -> bool:
    try:
        return ElfFile(path).build_id == build_id
    except (UnwindError, OSError):
        return False
