"""Traces and recorded address arrays -> symbolised frames: the step between unwinding and every output."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

from formats.elf import ElfFile
from formats.kallsyms import KernelSymbols
from formats.profile import ProfileFrame, ProfileSample

from .errors import UnwindError
from .jit import JitSymbols
from .model import Frame, ModuleMap, Sample, Trace, Via
from .modules import Module, ModuleResolver
from .vdso import VDSO, VdsoNames
from .symbolizer import Symbolizer

KERNEL_START = 0xFFFF_8000_0000_0000


@dataclass(frozen=True, slots=True)
class ResolvedFrame:
    """A frame ready for output: where it is (module, ELF vaddr), what it is, and how it was found."""

    address: int
    module: str | None
    offset: int | None  # ELF virtual address inside the module (what addr2line takes)
    symbol: str | None
    file: str | None
    line: int | None
    inlined: bool
    via: str
    kernel: bool = False
    lookup: int | None = None  # address used for lookup (ra - 1 for unwound return addresses)
    map_offset: int | None = None  # file offset of `address` in its mapping (what perf script prints)
    _profile: ProfileFrame | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_profile", self._make_profile())  # frames are memoised: build it once

    def to_json(self) -> dict:
        return {"addr": f"{self.address:#x}", "module": self.module,
                "offset": f"{self.offset:#x}" if self.offset is not None else None, "symbol": self.symbol,
                "file": self.file, "line": self.line, "inlined": self.inlined, "via": self.via}

    def to_profile(self) -> ProfileFrame:
        return self._profile

    def _make_profile(self) -> ProfileFrame:
        """As profilers show it: perf prints the lookup address (ra - 1) of frames it unwound itself."""
        shift = self.address - self.lookup if self.lookup is not None else 0
        offset = self.map_offset - shift if self.map_offset is not None else None
        return ProfileFrame(self.address - shift, self.symbol, self.module, self.file, self.line, self.inlined,
                            self.kernel, offset)


class FrameResolver:
    """Symbolises user frames through their mappings and kernel frames through kallsyms."""

    def __init__(self, symbolizer: Symbolizer, resolver: ModuleResolver, kernel: KernelSymbols | None = None,
                 inlines: bool = False, lines: bool = True, jit: JitSymbols | None = None):
        """`lines=False` leaves file and line out where the symbol table names the function (faster);
        `jit` names code in anonymous executable mappings from perf map files."""
        self.symbolizer = symbolizer
        self.jit = jit if jit is not None else JitSymbols(resolver.symfs)
        self.resolver = resolver
        self.kernel = kernel
        self.inlines = inlines
        self.lines = lines
        # module map -> via -> (pc << 1 | return address?) -> resolved frames: a profile repeats the same
        # few thousand addresses, so each is symbolised once.
        self._memo: dict[ModuleMap, dict[Via, dict[int, tuple[ResolvedFrame, ...]]]] = {}
        self._last: tuple[ModuleMap | None, dict] = (None, {})
        self._kernel_memo: dict[int, ResolvedFrame] = {}
        self._vdso: dict[int, tuple[ElfFile, VdsoNames]] = {}   # vDSO image -> its names (one or two a run)

    def user_frames(self, sample: Sample, frames: Iterable[Frame]) -> list[ResolvedFrame]:
        out: list[ResolvedFrame] = []
        by_via = self._memo_for(sample.modules)
        via = memo = None
        for frame in frames:
            if frame.via is not via:
                via = frame.via
                memo = by_via.get(via)
                if memo is None:
                    memo = by_via[via] = {}
            key = frame.pc << 1 | frame.is_return_address
            resolved = memo.get(key)
            if resolved is None:
                resolved = memo[key] = tuple(self._user_frame(sample, frame))
            out.extend(resolved)
        return out

    def _memo_for(self, modules: ModuleMap) -> dict:
        last, memo = self._last
        if modules is last:
            return memo
        if len(self._memo) > 64:
            self._memo.clear()
        memo = self._memo.get(modules)
        if memo is None:
            memo = self._memo[modules] = {}
        self._last = (modules, memo)
        return memo

    def _user_frame(self, sample: Sample, frame: Frame) -> list[ResolvedFrame]:
        via = frame.via.value
        unwound = frame.is_return_address and frame.via != Via.CALLCHAIN
        lookup = frame.lookup_pc if unwound else None
        mapping = sample.modules.find(frame.pc)
        module = self.resolver.module_for(mapping) if mapping is not None else None
        map_offset = mapping.file_offset(frame.pc) if mapping is not None else None
        if module is None:
            if mapping is not None and mapping.path is None:  # anonymous executable memory: JIT code
                where, name = self.jit.name(sample.pid, frame.lookup_pc, sample.modules)
                return [ResolvedFrame(frame.pc, where, None, name, None, None, False, via, lookup=lookup,
                                      map_offset=map_offset)]
            path = mapping.path if mapping is not None else None
            return [ResolvedFrame(frame.pc, path, None, None, None, None, False, via, lookup=lookup,
                                  map_offset=map_offset)]
        offset = module.to_vaddr(frame.pc)
        lookup_offset = module.to_vaddr(frame.lookup_pc)
        if module.path == VDSO:
            return [ResolvedFrame(frame.pc, mapping.path, offset, self._vdso_names(module).name_at(lookup_offset),
                                  None, None, False, via, lookup=lookup, map_offset=map_offset)]
        try:
            symbolized = self.symbolizer.symbolize(module.path, [lookup_offset], inlines=self.inlines,
                                                   lines=self.lines)[0]
        except (UnwindError, OSError):
            symbolized = []
        if not symbolized:
            return [ResolvedFrame(frame.pc, mapping.path, offset, None, None, None, False, via, lookup=lookup,
                                  map_offset=map_offset)]
        return [ResolvedFrame(frame.pc, mapping.path, offset, s.function, s.file, s.line, s.inlined, via,
                              lookup=lookup, map_offset=map_offset) for s in symbolized]

    def _vdso_names(self, module: Module) -> VdsoNames:
        held = self._vdso.get(id(module.elf))
        if held is None or held[0] is not module.elf:
            held = self._vdso[id(module.elf)] = (module.elf, VdsoNames(module.elf))
        return held[1]

    def kernel_frames(self, addresses: Sequence[int]) -> list[ResolvedFrame]:
        memo = self._kernel_memo
        out = []
        for address in addresses:
            resolved = memo.get(address)
            if resolved is None:
                symbol = self.kernel.lookup(address) if self.kernel is not None else None
                module = f"[{symbol.module}]" if symbol and symbol.module else "[kernel.kallsyms]"
                resolved = memo[address] = ResolvedFrame(address, module, None, symbol.name if symbol else None,
                                                         None, None, False, Via.KERNEL.value, kernel=True)
            out.append(resolved)
        return out


def callchain_trace(addresses: Sequence[int]) -> Trace:
    """A recorded user callchain (-g, BPF stack maps) as a trace: the pc, then return addresses."""
    from .model import StopReason

    frames = tuple(Frame(pc, via=Via.CALLCHAIN, is_return_address=i > 0) for i, pc in enumerate(addresses))
    return Trace(frames, StopReason.END)


def to_profile_sample(sample: Sample, frames: Sequence[ResolvedFrame]) -> ProfileSample:
    return ProfileSample(sample.comm, sample.pid, sample.tid, sample.time, sample.period,
                         tuple(map(_profile_of, frames)))


_profile_of = ResolvedFrame._profile.__get__  # slot reader: each frame's ProfileFrame, built once
