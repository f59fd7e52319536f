"""One sample in, one symbolised stack out: the unwinder, the recorded callchains and the symbolizer together."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from typing import Iterable, Iterator

from formats.kallsyms import KernelSymbols
from formats.profile import ProfileFrame, ProfileSample

from .model import Frame, Sample, StopReason, Trace, Unwinder, Via
from .modules import ModuleResolver
from .stitch import truncated_by_copy
from .resolve import FrameResolver, ResolvedFrame, callchain_trace, to_profile_sample
from .symbolizer import Symbolizer


TRUNCATED = ProfileFrame(0, "[truncated]")  # the synthetic root of a stack that lost its outer frames


@dataclass(frozen=True, slots=True)
class ResolvedSample:
    sample: Sample
    frames: tuple[ResolvedFrame, ...]  # kernel part first (leaf first), then the user part
    stop: str
    truncated: bool = False  # the user stack ends where the stack copy did (or stitching was ambiguous)
    marker: bool = True  # profiles give a truncated stack a `[truncated]` root frame

    def to_json(self) -> dict:
        s = self.sample
        return {"comm": s.comm, "pid": s.pid, "tid": s.tid, "time": s.time, "period": s.period,
                "frames": [f.to_json() for f in self.frames], "stop": self.stop}

    @property
    def profile(self) -> ProfileSample:
        profile = to_profile_sample(self.sample, self.frames)
        if self.truncated and self.marker:
            return replace(profile, frames=profile.frames + (TRUNCATED,))
        return profile


class SampleResolver:
    """Unwinds a sample's user stack (or takes its recorded callchain) and symbolises every frame."""

    def __init__(self, unwinder: Unwinder, symbolizer: Symbolizer, resolver: ModuleResolver,
                 kernel: KernelSymbols | None = None, inlines: bool = False, like_perf: bool = False,
                 lines: bool = True, truncated_marker: bool = True):
        """`like_perf` reproduces perf 6.1's libunwind bound, which treats the last 8 bytes of a
        stack copy as outside it (so deep stacks lose their outermost frame, as in perf script).
        `lines=False` skips source lines where the symbol table names the function."""
        self.unwinder = unwinder
        self.frames = FrameResolver(symbolizer, resolver, kernel, inlines, lines)
        self.like_perf = like_perf
        self.marker = truncated_marker

    def user_trace(self, sample: Sample) -> Trace:
        """The unwinder's trace when the sample has a stack copy, else the recorded callchain."""
        if self._unwound(sample):
            return self.unwinder.unwind(self._cut(sample))
        if sample.user_callchain:
            return callchain_trace(sample.user_callchain)
        if sample.registers.pc is not None:
            return Trace((Frame(sample.registers.pc, sample.registers.sp, via=Via.CONTEXT),), StopReason.NO_UNWIND_INFO)
        return Trace((), StopReason.END)

    @staticmethod
    def _unwound(sample: Sample) -> bool:
        """Whether the unwinder walks this sample (it has a stack copy and registers)."""
        return bool(sample.stack) and sample.registers.pc is not None

    def _cut(self, sample: Sample) -> Sample:
        return replace(sample, stack=sample.stack[:-8]) if self.like_perf else sample

    def resolve(self, sample: Sample, trace: Trace | None = None) -> ResolvedSample:
        """One sample's symbolised stack; `trace` is its user stack when already unwound."""
        if trace is None:
            trace = self.user_trace(sample)
        frames = self.frames.kernel_frames(sample.kernel_callchain) + self.frames.user_frames(sample, trace.frames)
        # cut short by this sample's copy, by an ambiguous join, or by the copy of the sample it was stitched to
        truncated = (trace.stop is StopReason.AMBIGUOUS_STITCH or truncated_by_copy(self._cut(sample), trace)
                     or (trace.stop is StopReason.BAD_MEMORY and bool(trace.frames)
                         and trace.frames[-1].via is Via.STITCHED))
        return ResolvedSample(sample, tuple(frames), str(trace.stop), truncated, self.marker)

    def resolve_all(self, samples: Iterable[Sample]) -> Iterator[ResolvedSample]:
        """Every sample in order; an unwinder with `unwind_all` (stitching) gets the stream of unwound samples."""
        unwind_all = getattr(self.unwinder, "unwind_all", None)
        if unwind_all is None:
            for sample in samples:
                yield self.resolve(sample)
            return
        pending: deque[Sample] = deque()

        def walked() -> Iterator[Sample]:
            for sample in samples:
                pending.append(sample)
                if self._unwound(sample):
                    yield self._cut(sample)

        for trace in unwind_all(walked()):
            while not self._unwound(pending[0]):
                yield self.resolve(pending.popleft())
            yield self.resolve(pending.popleft(), trace)
        while pending:
            yield self.resolve(pending.popleft())
