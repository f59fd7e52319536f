"""Traces and recorded address arrays -> symbolised frames (`unwind.Frame`): the step between unwinding and
every output."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Sequence

from formats.elf import ElfFile
from formats.kallsyms import KernelSymbols
from formats.stack import Frame as SymFrame

from .errors import UnwindError
from .model import Frame, ModuleMap, Sample, Trace, Via
from .modules import Module, ModuleResolver
from .vdso import VDSO, VdsoNames
from .symbolizer import Symbolizer

if TYPE_CHECKING:
    from .jit import JitSymbols

KERNEL_START = 0xFFFF_8000_0000_0000
# via -> (pc << 1 | return address?) -> resolved frames, for one module map
ViaMemo = dict[Via, dict[int, tuple[SymFrame, ...]]]


MEMO_LIMIT = 1 << 17  # resolved addresses remembered per module map and via, and kernel addresses


class FrameResolver:
    """Symbolises user frames through their mappings and kernel frames through kallsyms."""

    def __init__(self, symbolizer: Symbolizer, resolver: ModuleResolver, kernel: KernelSymbols | None = None,
                 inlines: bool = False, lines: bool = True, jit: JitSymbols | None = None):
        """`lines=False` leaves file and line out where the symbol table names the function (faster);
        `jit` names code in anonymous executable mappings from perf map files."""
        self.symbolizer = symbolizer
        self._jit = jit
        self.resolver = resolver
        self.kernel = kernel
        self.inlines = inlines
        self.lines = lines
        # module map -> via -> (pc << 1 | return address?) -> resolved frames: a profile repeats the same
        # few thousand addresses, so each is symbolised once (at most 64 maps, MEMO_LIMIT addresses each).
        self._memo: dict[ModuleMap, ViaMemo] = {}
        self._last: tuple[ModuleMap | None, ViaMemo] = (None, {})
        self._kernel_memo: dict[int, SymFrame] = {}
        self._vdso: dict[int, tuple[ElfFile, VdsoNames]] = {}   # vDSO image -> its names (one or two a run)

    def use_kernel(self, kernel: KernelSymbols | None) -> None:
        """Name kernel frames from `kernel` from now on (a batch's next recording, of another kernel)."""
        if kernel is not self.kernel:
            self.kernel = kernel
            self._kernel_memo.clear()

    @property
    def jit(self) -> JitSymbols:
        """Perf map and jitdump names, made on the first anonymous executable frame (most runs have none)."""
        if self._jit is None:
            self._jit = self.resolver.jit
        return self._jit

    def user_frames(self, sample: Sample, frames: Iterable[Frame]) -> list[SymFrame]:
        out: list[SymFrame] = []
        by_via = self._memo_for(sample.modules)
        via: Via | None = None
        memo: dict[int, tuple[SymFrame, ...]]  # set by the first frame (its via is never None), with its get
        extend = out.extend
        for frame in frames:
            if frame.via is not via:
                via = frame.via
                known = by_via.get(via)
                memo = by_via.setdefault(via, {}) if known is None else known
                get = memo.get
            key = frame.pc << 1 | frame.is_return_address
            resolved = get(key)
            if resolved is None:
                if len(memo) >= MEMO_LIMIT:  # bounded: checked on a miss only, off the hit path
                    memo.clear()
                resolved = memo[key] = tuple(self._user_frame(sample, frame))
            extend(resolved)
        return out

    def _memo_for(self, modules: ModuleMap) -> ViaMemo:
        last, memo = self._last
        if modules is last:
            return memo
        if len(self._memo) > 64:
            self._memo.clear()
        known = self._memo.get(modules)
        memo = self._memo.setdefault(modules, {}) if known is None else known
        self._last = (modules, memo)
        return memo

    def _user_frame(self, sample: Sample, frame: Frame) -> list[SymFrame]:
        """The frames of one physical frame; as profilers show it, perf prints the lookup address
        (ra - 1) and its file offset for frames it unwound itself (`lookup`, `map_offset`)."""
        via = frame.via.value
        unwound = frame.is_return_address and frame.via != Via.CALLCHAIN
        lookup = frame.lookup_pc if unwound else None
        mapping = sample.modules.find(frame.pc)
        if mapping is None:
            return [SymFrame(frame.pc, None, via=via, lookup=lookup)]
        map_offset = mapping.file_offset(frame.lookup_pc if unwound else frame.pc)
        build_id = mapping.build_id.hex() if mapping.build_id else None
        module = self.resolver.module_for(mapping)
        if module is None:
            if mapping.path is None:  # anonymous executable memory: JIT code
                where, name = self.jit.name(sample.pid, frame.lookup_pc, sample.modules)
                return [SymFrame(frame.pc, where, symbol=name, via=via, lookup=lookup, map_offset=map_offset)]
            return [SymFrame(frame.pc, mapping.path, None, build_id, via=via, lookup=lookup, map_offset=map_offset)]
        offset = module.to_vaddr(frame.pc)
        lookup_offset = module.to_vaddr(frame.lookup_pc)
        if module.path == VDSO:
            return [SymFrame(frame.pc, mapping.path, offset, build_id, self._vdso_names(module).name_at(lookup_offset),
                             via=via, lookup=lookup, map_offset=map_offset)]
        try:
            symbolized = self.symbolizer.symbolize(module.path, [lookup_offset], inlines=self.inlines,
                                                   lines=self.lines)[0]
        except (UnwindError, OSError):
            symbolized = []
        if not symbolized:
            return [SymFrame(frame.pc, mapping.path, offset, build_id, via=via, lookup=lookup, map_offset=map_offset)]
        return [SymFrame(frame.pc, mapping.path, offset, build_id, s.symbol, s.file, s.line, s.column, s.inlined, via,
                         False, lookup, map_offset, s.start_line, s.start_file, s.start_address, s.discriminator)
                for s in symbolized]

    def _vdso_names(self, module: Module) -> VdsoNames:
        held = self._vdso.get(id(module.elf))
        if held is None or held[0] is not module.elf:
            held = self._vdso[id(module.elf)] = (module.elf, VdsoNames(module.elf))
        return held[1]

    def kernel_frames(self, addresses: Sequence[int]) -> list[SymFrame]:
        memo = self._kernel_memo
        out = []
        for address in addresses:
            resolved = memo.get(address)
            if resolved is None:
                if len(memo) >= MEMO_LIMIT:
                    memo.clear()
                symbol = self.kernel.lookup(address) if self.kernel is not None else None
                module = f"[{symbol.module}]" if symbol and symbol.module else "[kernel.kallsyms]"
                resolved = memo[address] = SymFrame(address, module, symbol=symbol.name if symbol else None,
                                                    via=Via.KERNEL.value, kernel=True)
            out.append(resolved)
        return out


def callchain_trace(addresses: Sequence[int]) -> Trace:
    """A recorded user callchain (-g, BPF stack maps) as a trace: the pc, then return addresses."""
    from .model import StopReason

    frames = tuple(Frame(pc, via=Via.CALLCHAIN, is_return_address=i > 0) for i, pc in enumerate(addresses))
    return Trace(frames, StopReason.END)
