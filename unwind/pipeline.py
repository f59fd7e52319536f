"""One sample in, one symbolised stack out: the unwinder, the recorded callchains and the symbolizer together."""

from __future__ import annotations

from dataclasses import dataclass, replace

from formats.kallsyms import KernelSymbols
from formats.profile import ProfileSample

from .model import Frame, Sample, StopReason, Trace, Unwinder, Via
from .modules import ModuleResolver
from .resolve import FrameResolver, ResolvedFrame, callchain_trace, to_profile_sample
from .symbolizer import Symbolizer


@dataclass(frozen=True, slots=True)
class ResolvedSample:
    sample: Sample
    frames: tuple[ResolvedFrame, ...]  # kernel part first (leaf first), then the user part
    stop: str

    def to_json(self) -> dict:
        s = self.sample
        return {"comm": s.comm, "pid": s.pid, "tid": s.tid, "time": s.time, "period": s.period,
                "frames": [f.to_json() for f in self.frames], "stop": self.stop}

    @property
    def profile(self) -> ProfileSample:
        return to_profile_sample(self.sample, self.frames)


class SampleResolver:
    """Unwinds a sample's user stack (or takes its recorded callchain) and symbolises every frame."""

    def __init__(self, unwinder: Unwinder, symbolizer: Symbolizer, resolver: ModuleResolver,
                 kernel: KernelSymbols | None = None, inlines: bool = False, like_perf: bool = False,
                 lines: bool = True):
        """`like_perf` reproduces perf 6.1's libunwind bound, which treats the last 8 bytes of a
        stack copy as outside it (so deep stacks lose their outermost frame, as in perf script).
        `lines=False` skips source lines where the symbol table names the function."""
        self.unwinder = unwinder
        self.frames = FrameResolver(symbolizer, resolver, kernel, inlines, lines)
        self.like_perf = like_perf

    def user_trace(self, sample: Sample) -> Trace:
        """The unwinder's trace when the sample has a stack copy, else the recorded callchain."""
        if sample.stack and sample.registers.pc is not None:
            if self.like_perf:
                sample = replace(sample, stack=sample.stack[:-8])
            return self.unwinder.unwind(sample)
        if sample.user_callchain:
            return callchain_trace(sample.user_callchain)
        if sample.registers.pc is not None:
            return Trace((Frame(sample.registers.pc, sample.registers.sp, via=Via.CONTEXT),), StopReason.NO_UNWIND_INFO)
        return Trace((), StopReason.END)

    def resolve(self, sample: Sample) -> ResolvedSample:
        trace = self.user_trace(sample)
        frames = self.frames.kernel_frames(sample.kernel_callchain) + self.frames.user_frames(sample, trace.frames)
        return ResolvedSample(sample, tuple(frames), str(trace.stop))
