"""Raw stacks from BPF tools (bpftrace, BCC) and address lists -> symbolised samples."""

from __future__ import annotations

from typing import Callable

from formats.elf import ElfFile
from formats.errors import UnwindError
from formats.procmaps import parse_maps
from formats.stack import Frame as SymFrame, Stack
from formats.stacktext import RawStack

from .model import Frame, Mapping, ModuleMap, Registers, Sample, Via
from .modules import ModuleResolver
from .resolve import FrameResolver


def module_map_from_maps(text: str, path: str | None = None) -> ModuleMap:
    """The file mappings of a /proc/PID/maps text."""
    return ModuleMap(Mapping(e.start, e.end, e.offset, e.path) for e in parse_maps(text, path)
                     if e.path.startswith("/"))


def module_map_for_object(path: str) -> ModuleMap:
    """Addresses are ELF virtual addresses of one file: map its PT_LOAD segments at their own addresses."""
    elf = ElfFile(path)
    return ModuleMap(Mapping(s.vaddr, s.vaddr + max(s.memsz, 1), s.offset, path) for s in elf.load_segments)


class RawStackResolver:
    """Symbolises each RawFrame by what it carries: an address, a build-id + file offset, or text."""

    def __init__(self, frames: FrameResolver, resolver: ModuleResolver, modules: ModuleMap | None = None,
                 maps_for_pid: Callable[[int], ModuleMap | None] | None = None):
        self.frames = frames
        self.resolver = resolver
        self.modules = modules
        self.maps_for_pid = maps_for_pid  # pid -> ModuleMap | None (live /proc lookups)

    def resolve(self, stack: RawStack) -> Stack:
        """The symbolised stack, with the raw stack's owner (None where unknown) and count."""
        modules = self.modules
        if modules is None and stack.pid is not None and self.maps_for_pid is not None:
            modules = self.maps_for_pid(stack.pid)
        sample = Sample(registers=Registers(), modules=modules or ModuleMap(), pid=stack.pid or 0, tid=stack.tid or 0,
                        comm=stack.comm or "")
        out: list[SymFrame] = []
        user_depth = 0
        for raw in stack.frames:
            if raw.kernel and raw.address is not None:
                out += self.frames.kernel_frames([raw.address])
            elif raw.build_id is not None and raw.file_offset is not None:
                out += self._by_build_id(raw.build_id, raw.file_offset, user_depth > 0)
                user_depth += 1
            elif raw.address is not None:
                frame = Frame(raw.address, via=Via.CALLCHAIN, is_return_address=user_depth > 0)
                out += self.frames.user_frames(sample, [frame])
                user_depth += 1
            else:
                out.append(SymFrame(0, raw.module, symbol=raw.symbol_text, via=Via.CALLCHAIN.value,
                                    kernel=raw.kernel))
        return Stack(stack.comm, stack.pid, stack.tid, 0, 1, tuple(out), None, stack.count)

    def _by_build_id(self, build_id: str, file_offset: int, is_return_address: bool) -> list[SymFrame]:
        """BPF_F_USER_BUILD_ID entries: find the file by build-id, file offset -> ELF vaddr through PT_LOAD."""
        path = self.resolver.locate(None, bytes.fromhex(build_id))
        elf = self.resolver.open(path) if path else None
        vaddr = elf.offset_to_vaddr(file_offset) if elf is not None else None
        if path is None or vaddr is None:
            return [SymFrame(file_offset, f"[build-id {build_id}]", via=Via.CALLCHAIN.value)]
        # Map the file at its own addresses so the common path symbolises it.
        sample = Sample(registers=Registers(), modules=module_map_for_object(path))
        frame = Frame(vaddr, via=Via.CALLCHAIN, is_return_address=is_return_address)
        return self.frames.user_frames(sample, [frame])


def live_maps(pid: int) -> ModuleMap | None:
    """/proc/PID/maps of a running process, or None when it is gone or unreadable."""
    try:
        with open(f"/proc/{pid}/maps") as fh:
            return module_map_from_maps(fh.read(), f"/proc/{pid}/maps")
    except (OSError, UnwindError):
        return None
