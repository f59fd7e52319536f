"""Separate debug files: by build-id under debug directories, and by .gnu_debuglink (CRC checked).

Kept apart from unwind.modules so that symbolising a file imports no more than it needs.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Iterable, Sequence

from formats.elf import ElfFile, gnu_debuglink_crc
from formats.errors import UnwindError

if TYPE_CHECKING:
    from .debuginfod import DebuginfodClient

DEFAULT_DEBUG_DIRS = ("/usr/lib/debug",)


def debuginfod_client(urls: str | None) -> DebuginfodClient | None:
    """The debuginfod client of `urls` (space separated; None: $DEBUGINFOD_URLS), or None without servers,
    in which case the client's module (and with it http.client, ssl and email: ~30 ms) is never imported."""
    text = os.environ.get("DEBUGINFOD_URLS", "") if urls is None else urls
    if not text.split():
        return None
    from .debuginfod import DebuginfodClient

    return DebuginfodClient.from_environment(urls)


def perf_buildid_dirs() -> tuple[str, ...]:
    """perf's build-id cache: `buildid.dir` of perf's config (~/.perfconfig over /etc/perfconfig), else
    $HOME/.debug, where `perf record` copies every binary a recording samples (`.build-id/xx/rest/elf`,
    `[vdso]/<build-id>/vdso`, `[kernel.kallsyms]/<build-id>/kallsyms`); $PERF_BUILDID_DIR first, which perf
    sets (it never reads it) for the scripts it runs."""
    home = os.path.expanduser("~")
    configured = perfconfig_value("buildid", "dir", (os.path.join(home, ".perfconfig"), "/etc/perfconfig"))
    dirs = (os.environ.get("PERF_BUILDID_DIR"), os.path.expanduser(configured) if configured
            else os.path.join(home, ".debug"))
    return tuple(dict.fromkeys(d for d in dirs if d))


def perfconfig_value(section: str, key: str, files: Sequence[str]) -> str | None:
    """`key` of `[section]` in the first of perf's config `files` (git-config syntax) that sets it."""
    for path in files:
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                text = fh.read(1 << 20)
        except OSError:  # no such file, unreadable: the next one
            continue
        current, found = None, None
        for raw in text.splitlines():
            line = raw.split("#", 1)[0].split(";", 1)[0].strip()
            if line.startswith("[") and "]" in line:
                current = line[1:line.index("]")].strip().lower()
            elif current == section and "=" in line:
                name, value = (part.strip() for part in line.split("=", 1))
                if name.lower() == key:
                    found = value.strip('"')
        if found:
            return found
    return None


def perf_cached_file(*relative: str) -> str | None:
    """The first of the `relative` paths that is a file in one of perf's build-id cache directories."""
    for base in perf_buildid_dirs():
        for name in relative:
            path = os.path.join(base, name)
            if os.path.isfile(path):
                return path
    return None


def perf_cached_binary(build_id: bytes) -> str | None:
    """The copy of the binary of `build_id` in perf's build-id cache, if there is one."""
    return perf_cached_file(os.path.join(build_id_path("", build_id, ""), "elf"))


def build_id_path(debug_dir: str | os.PathLike[str], build_id: bytes, suffix: str = ".debug") -> str:
    """`DIR/.build-id/xx/rest.debug`, the layout of /usr/lib/debug."""
    hexid = build_id.hex()
    return os.path.join(debug_dir, ".build-id", hexid[:2], f"{hexid[2:]}{suffix}")


def find_debug_file(elf: ElfFile, debug_dirs: Sequence[str] = DEFAULT_DEBUG_DIRS,
                    fallback: str | None = None) -> str | None:
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


def find_alt_file(elf: ElfFile, debug_dirs: Iterable[str] = DEFAULT_DEBUG_DIRS,
                  debuginfod: DebuginfodClient | None = None) -> str | None:
    """The dwz alternate (DWARF 5 supplementary) file `elf` links to, with the build-id the link names.

    Tried in order: the name as written (relative names from `elf`'s directory, as dwz -r writes
    them), `DIR/.build-id/xx/rest.debug` and `DIR/.dwz/<name>` (Debian's and Fedora's layout) for
    each debug directory, and an absolute `/usr/lib/debug/...` name re-rooted under each debug
    directory.  A file whose build-id differs is skipped; then `debuginfod` is asked for the build-id
    (elfutils' servers index dwz files too).  None when `elf` has no link or nothing fits.
    """
    if elf.section(".gnu_debugaltlink") is None and elf.section(".debug_sup") is None:
        return None  # what read_alt_link finds then; formats.dwarf.sup stays unimported on a warm run
    from formats.dwarf.sup import read_alt_link

    link = read_alt_link(elf)
    if link is None or not link.name and not link.build_id:
        return None
    here = os.path.dirname(elf.path) if elf.path else "."
    candidates = [link.name if os.path.isabs(link.name) else os.path.join(here, link.name)] if link.name else []
    for directory in debug_dirs:
        if link.build_id:
            candidates.append(build_id_path(directory, link.build_id))
        if link.name:
            candidates.append(os.path.join(directory, ".dwz", os.path.basename(link.name)))
            for root in DEFAULT_DEBUG_DIRS:
                if link.name.startswith(root + "/"):
                    candidates.append(os.path.join(directory, link.name[len(root) + 1:]))
    for candidate in candidates:
        if os.path.isfile(candidate) and (not link.build_id or _alt_identity(candidate) == link.build_id):
            return candidate
    if debuginfod is not None and link.build_id:
        fetched = debuginfod.debuginfo(link.build_id)
        if fetched is not None:
            return fetched
    import warnings

    warnings.warn(f"{elf.path}: dwz alternate file {link.name or link.build_id.hex()} not found "
                  f"({link.section}); names and declarations shared through it are missing")
    return None


def _alt_identity(path: str) -> bytes | None:
    """An alternate file's build-id note, else its own `.debug_sup` checksum (dwz -5)."""
    from formats.dwarf.sup import supplementary_identity

    try:
        elf = ElfFile(path)
        return elf.build_id or supplementary_identity(elf)
    except (UnwindError, OSError):
        return None
