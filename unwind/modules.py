"""Find the files behind addresses: a mapping's binary (under --symfs, by path, by build-id) and its debug file."""

# Annotations are evaluated at import (no `from __future__ import annotations`): typing compiles the
# string annotation of every NamedTuple field, ~0.5 M instructions each (NOTES.md, issue 16).

import os
from typing import TYPE_CHECKING, Iterable, NamedTuple

from cachetools import LRUCache

from formats.elf import ElfFile, Segment, SegmentType
from formats.errors import UnwindError

from .caches import CacheStats
from .debuginfo import DEFAULT_DEBUG_DIRS, build_id_path, find_debug_file, perf_cached_binary  # noqa: F401
from .model import Mapping

if TYPE_CHECKING:
    from .debuginfod import DebuginfodClient
    from .jit import JitSymbols


class Module(NamedTuple):
    """A mapped ELF file: absolute address = ELF virtual address + bias."""

    path: str
    elf: ElfFile
    bias: int
    mapping: Mapping | None = None

    def to_vaddr(self, address: int) -> int:
        return address - self.bias

    def to_absolute(self, vaddr: int) -> int:
        return vaddr + self.bias


class ModuleResolver:
    """Opens and caches the ELF files behind mappings; looks under --symfs first, as perf does."""

    def __init__(self, symfs: str | None = None, debug_dirs: Iterable[str] = DEFAULT_DEBUG_DIRS,
                 cache_size: int = 256, debuginfod: "DebuginfodClient | None" = None):
        """`debuginfod`: where a mapped file that is not on this machine is fetched by its build-id
        (`/buildid/ID/executable`), after --symfs, its path and the debug directories."""
        self.symfs = symfs
        self.debuginfod = debuginfod
        self.debug_dirs = tuple(debug_dirs) or DEFAULT_DEBUG_DIRS
        self._files: LRUCache[str, ElfFile | None] = LRUCache(cache_size)
        self._modules: LRUCache[tuple[int, int, str | None, bytes | None], Module | None] = LRUCache(cache_size * 4)
        self._counts = [0, 0, 0, 0]  # file lookups, file misses, module lookups, module misses
        self._last: tuple[Mapping | None, Module | None] = (None, None)  # module_for's last answer
        self._jit: JitSymbols | None = None

    @property
    def jit(self) -> "JitSymbols":
        """Names and code of JIT code (perf maps, jitdump files, under --symfs first), shared by the unwinders
        (JIT frame 0) and the naming; made on first use (most runs have no JIT code)."""
        if self._jit is None:
            from .jit import JitSymbols

            self._jit = JitSymbols(self.symfs)
        return self._jit

    def locate(self, path: str | None, build_id: bytes | None = None) -> str | None:
        """The file to open for a mapped `path`: symfs copy, the path itself (either only when its build-id is
        `build_id`), perf's build-id cache, a build-id match in a debug dir, debuginfod."""
        candidates = []
        if path and self.symfs:
            candidates.append(os.path.join(self.symfs, path.lstrip("/")))
        if path:
            candidates.append(path)
        for candidate in candidates:
            if os.path.isfile(candidate):
                if build_id is None or self._build_id_of(candidate) in (None, build_id):
                    return candidate
        if build_id:
            # perf's build-id cache next: the binary as recorded, where the path now holds a rebuilt (or no)
            # file; before debug directories, whose `.debug` files have no code or .eh_frame
            cached = perf_cached_binary(build_id)
            if cached is not None:
                return cached
            for directory in ((self.symfs,) if self.symfs else ()) + self.debug_dirs:
                for suffix in ("", ".debug"):
                    candidate = build_id_path(directory, build_id, suffix)
                    if os.path.isfile(candidate):
                        return candidate
            if self.debuginfod is not None:
                return self.debuginfod.executable(build_id)
        return None

    def open(self, path: str) -> ElfFile | None:
        """The parsed ELF at `path`, cached; None for non-ELF or unreadable files."""
        counts = self._counts
        counts[0] += 1
        if path not in self._files:
            counts[1] += 1
            try:
                self._files[path] = ElfFile(path)
            except (UnwindError, OSError):
                self._files[path] = None
        return self._files[path]

    def _build_id_of(self, path: str) -> bytes | None:
        elf = self.open(path)
        return elf.build_id if elf else None

    def module_for(self, mapping: Mapping) -> Module | None:
        """The module behind a file mapping, with its load bias; None for anonymous or missing files."""
        counts = self._counts
        counts[2] += 1
        last_mapping, last_module = self._last
        if mapping is last_mapping:  # the mapping asked for before (a profile's misses cluster): no LRU calls
            return last_module
        key = (mapping.start, mapping.offset, mapping.path, mapping.build_id)
        if key not in self._modules:
            counts[3] += 1
            self._modules[key] = self._resolve(mapping)
        module = self._modules[key]
        self._last = (mapping, module)
        return module

    def cache_stats(self) -> dict[str, CacheStats]:
        """`elf-files` (parsed ELF files by path) and `mappings` (module and load bias by mapping)."""
        files, file_misses, modules, module_misses = self._counts
        return {"elf-files": CacheStats(files - file_misses, file_misses, len(self._files), int(self._files.maxsize)),
                "mappings": CacheStats(modules - module_misses, module_misses, len(self._modules),
                                       int(self._modules.maxsize))}

    def _resolve(self, mapping: Mapping) -> Module | None:
        if mapping.path == "[vdso]":
            return vdso_module(mapping)
        if not mapping.path or mapping.path.startswith("["):
            return None
        path = self.locate(mapping.path, mapping.build_id)
        elf = self.open(path) if path else None
        if path is None or elf is None:
            return None
        return Module(path, elf, mapping_bias(elf, mapping), mapping)


def vdso_module(mapping: Mapping) -> Module | None:
    """A `[vdso]` mapping as a module, when its image is found (unwind/vdso.py: the running kernel's, or
    perf's build-id cache); None otherwise (its frames stay `[vdso]` with their offset)."""
    from .vdso import vdso_image

    image = vdso_image(mapping.build_id)
    if image is None:
        return None
    try:
        elf = ElfFile(None, image)
    except UnwindError:
        return None
    return Module("[vdso]", elf, mapping_bias(elf, mapping), mapping)


PAGE_SIZE = 4096                # the kernel maps each PT_LOAD from its page-aligned file offset
PROT_EXEC = 4


def maps_prot(perms: str) -> int:
    """PROT_* bits of a /proc/PID/maps permission string such as `r-xp`."""
    return (1 if "r" in perms else 0) | (2 if "w" in perms else 0) | (PROT_EXEC if "x" in perms else 0)


def mapped_segment(elf: ElfFile, mapping: Mapping) -> Segment | None:
    """The PT_LOAD that `mapping` maps, as blazesym normalizes: among the segments whose file range
    overlaps the mapping's, those with the mapping's execute permission (when known), then the one
    the kernel mapped at exactly this page-aligned offset, else the one holding the mapping's offset.

    The first segment holding the offset is not enough: lld, mold and `ld -z separate-code` layouts
    put a read-only segment's tail and the code segment's head in one file page.
    """
    low, high = mapping.offset, mapping.offset + (mapping.end - mapping.start)
    loads = [s for s in elf.load_segments if s.offset < high and low < s.offset + max(s.filesz, 1)]
    if mapping.prot is not None:
        executable = bool(mapping.prot & PROT_EXEC)
        loads = [s for s in loads if s.is_executable == executable] or loads
    for seg in loads:
        if seg.offset & -PAGE_SIZE == low:
            return seg
    for seg in loads:
        if seg.offset <= low < seg.offset + max(seg.filesz, 1):
            return seg
    return loads[0] if loads else None


ET_EXEC = 2


def is_program_entry(elf: ElfFile, vaddr: int) -> bool:
    """Whether `vaddr` is the entry point of a program: an ET_EXEC file, or one with PT_INTERP (PIE
    executables; libc, which runs as one). Shared libraries carry an entry too, but not one that exec
    jumps to: mold sets it to .text's start, a function that is called."""
    if vaddr != elf.entry or not vaddr:
        return False
    return elf.type == ET_EXEC or any(s.type == SegmentType.INTERP for s in elf.segments)


# Go's assembly functions that write SP (funcFlag_SPWRITE: its traceback stops at them unless they are the
# innermost frame): rt0_go, which the entry point jumps to with argc at [rsp] and which realigns the
# stack; systemstack, mcall, morestack and asmcgocall, which switch to the g0 stack. Their CFI describes
# none of it: a caller found through it is whatever the g0 stack held last (runtime.newproc's, seen on a
# recording, then a return address that is a data address).
GO_ENTRY_FUNCTIONS = frozenset({"runtime.rt0_go.abi0", "runtime.rt0_go"})  # bare names: Go before 1.17
GO_STACK_SWITCHES = frozenset({"runtime.systemstack.abi0", "runtime.systemstack", "runtime.mcall",
                               "runtime.morestack.abi0", "runtime.morestack", "runtime.asmcgocall.abi0"})


class RootRange(NamedTuple):
    """An ELF address range whose frame is the outermost: always, or (`as_caller`) once it is a caller."""

    low: int
    high: int
    as_caller: bool


def root_ranges(elf: ElfFile) -> tuple[RootRange, ...]:
    """The functions a walk ends at whatever their CFI says, as Go's own traceback does: in Go binaries
    (.go.buildinfo or .note.go.buildid), from .symtab; () elsewhere."""
    if elf.section(".go.buildinfo") is None and elf.section(".note.go.buildid") is None:
        return ()
    from formats.symtab import read_symbols

    try:
        symbols = read_symbols(elf)
    except UnwindError:
        return ()
    return tuple(RootRange(s.value, s.value + max(s.size, 1), s.name in GO_STACK_SWITCHES) for s in symbols
                 if s.value and (s.name in GO_ENTRY_FUNCTIONS or s.name in GO_STACK_SWITCHES))


def mapping_bias(elf: ElfFile, mapping: Mapping) -> int:
    """Load bias of `elf` mapped by `mapping` (absolute address = ELF virtual address + bias): the
    one address normalization every input (perf.data, cores, live processes, raw stacks) goes through."""
    seg = mapped_segment(elf, mapping)
    if seg is None:
        return mapping.start - mapping.offset - elf.first_load_vaddr
    return mapping.start - mapping.offset - (seg.vaddr - seg.offset)
