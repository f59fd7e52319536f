"""A live process as samples: its maps, its memory through /proc/PID/mem, its files through /proc/PID/map_files.

`unwind_process(pid, unwinder)` holds every thread stopped (unwind.ptrace) only while it copies the
registers and the top of the stack and walks; naming the frames happens after the threads run again.
Memory reads go to the stack copy first, then the live process (JIT code, heap), then the mapped files.
Binaries are opened through `/proc/PID/map_files/START-END` (the very inode mapped: deleted or
replaced files, other mount namespaces), else `/proc/PID/root/PATH`, after `--symfs`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

from formats.elf import ElfFile
from formats.procmaps import MapsEntry, parse_maps

from .debuginfo import DEFAULT_DEBUG_DIRS
from .errors import UnwindError
from .memory import AddressSpace
from .model import Mapping, ModuleMap, Sample, Trace, unwind_over
from .modules import Module, ModuleResolver, mapping_bias, maps_prot
from .ptrace import ProcessError, StoppedThread, Tracer, process_state, stopped_threads

MAX_STACK = 8 << 20  # stack bytes copied per thread at most (the default thread stack size)
MAX_READ = 1 << 20  # one read from the live process at most
ADDRESS_LIMIT = 1 << 63  # /proc/PID/mem offsets are signed
VDSO = "[vdso]"
DELETED = " (deleted)"


class ProcessMemory:
    """Reads of a live process's memory through /proc/PID/mem; None where nothing is mapped."""

    def __init__(self, pid: int):
        self.pid = pid
        try:
            self._fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY | os.O_CLOEXEC)
        except (FileNotFoundError, ProcessLookupError):
            raise ProcessError(f"process {pid} exited") from None
        except PermissionError as exc:
            raise ProcessError(f"PID {pid}: cannot read its memory: {exc.strerror}") from None

    def read(self, address: int, size: int) -> bytes | None:
        if size < 0 or size > MAX_READ or address < 0 or address + size > ADDRESS_LIMIT:
            return None
        try:
            data = os.pread(self._fd, size, address)
        except OSError:  # EIO: unmapped; ESRCH: the process is gone
            return None
        return data if len(data) == size else None

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_maps(pid: int) -> list[MapsEntry]:
    path = f"/proc/{pid}/maps"
    try:
        with open(path) as fh:
            text = fh.read()
    except (FileNotFoundError, ProcessLookupError):
        raise ProcessError(f"process {pid} exited") from None
    except PermissionError as exc:
        raise ProcessError(f"PID {pid}: cannot read its maps: {exc.strerror}") from None
    return parse_maps(text, path)


def module_map(entries: Sequence[MapsEntry], memory: ProcessMemory) -> ModuleMap:
    """File mappings (as the kernel names them, " (deleted)" dropped) and the vDSO, with its build-id."""
    mappings = []
    for e in entries:
        if e.path == VDSO:
            mappings.append(Mapping(e.start, e.end, 0, VDSO, _build_id(memory.read(e.start, e.end - e.start))))
        elif e.path.startswith("/"):
            path = e.path.removesuffix(DELETED)
            mappings.append(Mapping(e.start, e.end, e.offset, path, None, maps_prot(e.perms)))
    return ModuleMap(mappings)


def _build_id(image: bytes | None) -> bytes | None:
    if image is None:
        return None
    try:
        return ElfFile(None, image).build_id
    except UnwindError:
        return None


class LiveModuleResolver(ModuleResolver):
    """Opens a live process's binaries: --symfs, then the mapped inode itself, then the path in its root."""

    def __init__(self, pid: int, entries: Sequence[MapsEntry], memory: ProcessMemory, symfs: str | None = None,
                 debug_dirs: Sequence[str] = DEFAULT_DEBUG_DIRS):
        super().__init__(symfs, debug_dirs)
        self.pid = pid
        self.memory = memory
        # path -> the map_files entry of its first mapping: one open (and one parse) per file
        self._inode_paths: dict[str, str] = {}
        for e in entries:
            path = e.path.removesuffix(DELETED)
            if path.startswith("/") and path not in self._inode_paths:
                self._inode_paths[path] = f"/proc/{pid}/map_files/{e.start:x}-{e.end:x}"

    def _resolve(self, mapping: Mapping) -> Module | None:
        if mapping.path == VDSO:
            image = self.memory.read(mapping.start, mapping.end - mapping.start)
            try:
                elf = ElfFile(None, image) if image else None
            except UnwindError:
                elf = None
            return Module(VDSO, elf, mapping_bias(elf, mapping), mapping) if elf is not None else None
        if not mapping.path or mapping.path.startswith("["):
            return None
        for candidate in self._candidates(mapping.path):
            elf = self.open(candidate)
            if elf is not None:
                return Module(candidate, elf, mapping_bias(elf, mapping), mapping)
        return None

    def _candidates(self, path: str) -> list[str]:
        out = []
        if self.symfs:
            out.append(os.path.join(self.symfs, path.lstrip("/")))
        if path in self._inode_paths:
            out.append(self._inode_paths[path])
        out.append(f"/proc/{self.pid}/root{path}")
        return [c for c in out if os.path.isfile(c)]


class LiveMemory(AddressSpace):
    """One thread's address space: its stack copy, then the live process, then the files."""

    def __init__(self, sample: Sample, resolver: LiveModuleResolver, process: ProcessMemory,
                 writable: tuple[tuple[int, int], ...] = ()):
        """`writable`: anonymous writable ranges (stacks, heap), which in_stack accepts too."""
        super().__init__(sample, resolver)
        self.process = process
        self.writable = writable

    def in_stack(self, address: int, size: int = 8) -> bool:
        return super().in_stack(address, size) or any(lo <= address and address + size <= hi
                                                      for lo, hi in self.writable)

    def read(self, address: int, size: int) -> bytes:
        if self.in_snapshot(address, size):
            return super().read(address, size)
        data = self.process.read(address, size)
        return data if data is not None else self.read_files(address, size)


@dataclass(frozen=True, slots=True)
class LiveThread:
    """One thread as it was while held: the sample (registers + stack copy) and the walk's trace."""

    sample: Sample
    trace: Trace


@dataclass
class LiveProcess:
    """What one look at a process gave: its module map, the resolver for its files, each thread's walk."""

    pid: int
    comm: str
    modules: ModuleMap
    resolver: LiveModuleResolver
    threads: list[LiveThread]


def _writable(entries: Sequence[MapsEntry]) -> tuple[tuple[int, int], ...]:
    return tuple((e.start, e.end) for e in entries if e.perms[1] == "w" and (not e.path or e.path.startswith("[")))


def _stack_copy(thread: StoppedThread, entries: Sequence[MapsEntry], memory: ProcessMemory) -> tuple[bytes, int]:
    """The thread's stack from rsp to the end of the mapping holding it (at most MAX_STACK bytes)."""
    sp = thread.registers.sp
    entry = next((e for e in entries if sp is not None and e.start <= sp < e.end), None)
    if sp is None or entry is None:
        return b"", 0
    size = min(entry.end - sp, MAX_STACK)
    chunks = []
    for at in range(sp, sp + size, MAX_READ):
        chunk = memory.read(at, min(MAX_READ, sp + size - at))
        if chunk is None:
            break
        chunks.append(chunk)
    return b"".join(chunks), sp


def unwind_process(pid: int, unwinder_name: str = "auto", *, symfs: str | None = None,
                   debug_dirs: Sequence[str] = (), max_depth: int = 256, **options: object) -> LiveProcess:
    """Every thread of `pid`, walked while held stopped; the threads run again before this returns."""
    from .unwinders import get_unwinder

    if pid <= 0:
        raise ProcessError(f"no process with PID {pid}")
    if process_state(pid) in ("Z", "X"):
        raise ProcessError(f"process {pid} is a zombie (it exited; its parent has not reaped it)")
    entries = read_maps(pid)
    comm = _comm(pid)
    with ProcessMemory(pid) as memory:
        resolver = LiveModuleResolver(pid, entries, memory, symfs, tuple(debug_dirs) or DEFAULT_DEBUG_DIRS)
        modules = module_map(entries, memory)
        unwinder = get_unwinder(unwinder_name, resolver=resolver, max_depth=max_depth, **options)
        for mapping in modules:  # open the files (and their tables) before the threads stop
            resolver.module_for(mapping)
        writable = _writable(entries)
        threads = []
        with stopped_threads(pid, Tracer()) as stopped:
            for thread in stopped:
                stack, base = _stack_copy(thread, entries, memory)
                sample = Sample(thread.registers, stack, base, modules, pid=pid, tid=thread.tid, comm=comm)
                live = LiveMemory(sample, resolver, memory, writable)
                threads.append(LiveThread(sample, unwind_over(unwinder, sample, live)))
    return LiveProcess(pid, comm, modules, resolver, threads)


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as fh:
            return fh.read().strip()
    except OSError:
        return ""


__all__ = ["LiveMemory", "LiveModuleResolver", "LiveProcess", "LiveThread", "ProcessError", "ProcessMemory",
           "module_map", "read_maps", "unwind_process"]
