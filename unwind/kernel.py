"""Kernel symbols for kernel callchains: kallsyms parsed once, then kept per boot in the index cache."""

from __future__ import annotations

import errno
import os
import zlib
from array import array
from collections.abc import Sequence
from typing import Generic, TypeVar, overload

from formats.elf import iter_notes
from formats.errors import FileError, FormatError
from formats.kallsyms import KernelSymbols, load_kallsyms
from formats.symindex import CorruptIndexError, IndexFile, write_index

from .debuginfo import perf_cached_file
from .index import NO_STRING, StringTable, cache_dir, open_index
from .index_check import check_kernel_index

PROC_KALLSYMS = "/proc/kallsyms"
KERNEL_NOTES = "/sys/kernel/notes"
KALLSYMS_DSO = "[kernel.kallsyms]"  # perf's name for the host kernel (build-id table, build-id cache)
NT_GNU_BUILD_ID = 3
T = TypeVar("T", str, str | None)


def running_kernel_build_id(notes: str = KERNEL_NOTES) -> bytes | None:
    """The running kernel's build-id (its GNU build-id note in /sys/kernel/notes), None when unreadable."""
    try:
        with open(notes, "rb") as fh:
            data = fh.read(1 << 16)
    except OSError:  # no sysfs (a container), or not readable
        return None
    try:
        return next((n.desc for n in iter_notes(data, 0, len(data), notes)
                     if n.name == b"GNU" and n.type == NT_GNU_BUILD_ID), None)
    except FormatError:
        return None


def recorded_kernel_kallsyms(build_id: bytes, notes: str = KERNEL_NOTES) -> tuple[bool, str | None]:
    """Which kallsyms perf script names a recording's kernel frames from, by the recorded kernel's build-id:
    (True, None) the running kernel's, when it is that kernel (or /sys/kernel/notes cannot tell); (True, path)
    perf's build-id cache copy (`[kernel.kallsyms]/<id>/kallsyms`, or the older `[kernel.kallsyms]/<id>` file)
    that `perf record` or `perf archive` left, for a recording of another kernel; (False, None) when there is
    none: perf then says "No kallsyms or vmlinux with build-id ... was found" and names no kernel frame."""
    running = running_kernel_build_id(notes)
    if running is None or running == build_id:
        return True, None
    hexid = build_id.hex()
    path = perf_cached_file(os.path.join(KALLSYMS_DSO, hexid, "kallsyms"), os.path.join(KALLSYMS_DSO, hexid))
    return (True, path) if path is not None else (False, None)


class KernelTables:
    """Kernel symbol tables by source, each loaded once, and which one a recording's kernel frames get: the
    `kallsyms` file when given, else as perf script chooses by the recorded kernel's build-id
    (recorded_kernel_kallsyms). Owned by a Session or a batch worker."""

    def __init__(self, kallsyms: str | None = None, directory: str | None = None):
        self.kallsyms = kallsyms
        self.directory = directory
        self._tables: dict[str | None, KernelSymbols | None] = {}  # by file; None: the running kernel's
        self._unnamed: set[bytes] = set()  # recorded kernels without symbols (warned about once)

    def get(self, build_id: bytes | None = None) -> KernelSymbols | None:
        """The table for a recording of the kernel `build_id` (None: not recorded; the running kernel's)."""
        source = self.kallsyms
        if source is None and build_id is not None:
            found, source = recorded_kernel_kallsyms(build_id)
            if not found:
                if build_id not in self._unnamed:
                    self._unnamed.add(build_id)
                    import warnings

                    warnings.warn(f"no kallsyms of the recorded kernel (build-id {build_id.hex()}) in perf's "
                                  "build-id cache, and the running kernel is another: kernel frames are unnamed")
                return None
        if source not in self._tables:
            self._tables[source] = load_kernel_symbols(source, self.directory)
        return self._tables[source]


def load_kernel_symbols(path: str | None = None, directory: str | None = None) -> KernelSymbols | None:
    """Symbols of `path` (kallsyms or System.map), else of the running kernel; None when neither is there.

    /proc/kallsyms takes ~0.3 s to read and parse, so the parsed table is cached, keyed by the boot
    id and the loaded modules (or by a file's path, size and mtime) and rebuilt when those change.
    """
    source = path or PROC_KALLSYMS
    if not os.path.exists(source):
        if path:
            raise FileError(path, FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path))
        return None
    key = _source_key(source)
    cached = os.path.join(directory or cache_dir(), f"kallsyms-{zlib.crc32(key):08x}.idx")  # the key is inside
    try:
        return _from_index(open_index(cached, key, check_kernel_index), source)
    except (OSError, CorruptIndexError):
        pass
    table = load_kallsyms(source)
    try:
        write_index(cached, key, _to_arrays(table))
    except OSError:
        pass  # an unwritable cache only costs the next run a parse
    return table


def _source_key(source: str) -> bytes:
    if source == PROC_KALLSYMS:
        parts = [_read("/proc/sys/kernel/random/boot_id"), _read("/proc/modules"), str(os.geteuid()),
                 _read("/proc/sys/kernel/kptr_restrict")]
        return ("proc|" + "|".join(parts)).encode()
    st = os.stat(source)
    return f"file|{os.path.realpath(source)}|{st.st_size}|{st.st_mtime_ns}".encode()


def _read(path: str) -> str:
    try:
        with open(path) as fh:
            return fh.read()
    except OSError:
        return ""


def _to_arrays(table: KernelSymbols) -> dict[str, array[int] | bytes]:
    strings = StringTable()
    names = array("I", (strings.intern(n) for n in table.names))
    modules = array("I", (strings.intern(m) if m is not None else NO_STRING for m in table.modules))
    return {"starts": _u64s(table.starts), "ends": _u64s(table.ends), "names": names, "modules": modules,
            "types": table.types.encode(), "restricted": bytes([table.restricted]), **strings.arrays()}


def _u64s(values: Sequence[int]) -> array[int]:
    """A parsed table's addresses are arrays already (load_kallsyms); anything else is copied into one."""
    return values if isinstance(values, array) else array("Q", values)


class _Strings(Sequence[T], Generic[T]):
    """String ids decoded from the index on access: 120k kernel names are not all needed. The id
    NO_STRING gives `missing` (check_kernel_index lets no name have it; a symbol's module may)."""

    def __init__(self, ids: memoryview, offsets: memoryview, blob: memoryview, missing: T):
        self._ids, self._offsets, self._blob = ids, offsets, blob
        self._missing: T = missing

    def __len__(self) -> int:
        return len(self._ids)

    @overload
    def __getitem__(self, i: int) -> T: ...

    @overload
    def __getitem__(self, i: slice) -> list[T]: ...

    def __getitem__(self, i: int | slice) -> T | list[T]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        sid = self._ids[i]
        return self._missing if sid == NO_STRING else str(self._blob[self._offsets[sid]:self._offsets[sid + 1]],
                                                          "utf-8", "replace")


def _from_index(index: IndexFile, source: str) -> KernelSymbols:
    offsets, blob = index.array("str_off"), index.array("str_blob")  # a view: names decode on access
    names = _Strings(index.array("names"), offsets, blob, "")
    modules: _Strings[str | None] = _Strings(index.array("modules"), offsets, blob, None)
    return KernelSymbols(index.array("starts"), index.array("ends"), names, index.bytes("types").decode(), modules,
                         bool(index.bytes("restricted")[0]), path=source)
