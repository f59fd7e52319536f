"""One sample in, one symbolised stack out: the unwinder, the recorded callchains and the symbolizer together."""

from __future__ import annotations

from collections import deque
from struct import Struct
from typing import Iterable, Iterator, TypeVar

from formats.kallsyms import KernelSymbols
from formats.perfdata.reader import ReadStats
from formats.stack import Frame as SymFrame, Stack

from .model import Frame, Reg, Sample, StopReason, Trace, Unwinder, Via, truncated_by_copy
from .modules import ModuleResolver
from .perfsession import PerfSession
from .resolve import FrameResolver, callchain_trace
from .symbolizer import Symbolizer


TRUNCATED = SymFrame(0, symbol="[truncated]")  # the synthetic root of a stack that lost its outer frames
_RIP = Reg.RIP


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
        if sample.stack and sample.registers.values.get(_RIP) is not None:  # _unwound, inline: once a sample
            return self.unwinder.unwind(sample._replace(stack=sample.stack[:-8]) if self.like_perf else sample)
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
        return sample._replace(stack=sample.stack[:-8]) if self.like_perf else sample

    def resolve(self, sample: Sample, trace: Trace | None = None) -> Stack:
        """One sample's symbolised stack; `trace` is its user stack when already unwound. A stack the copy
        (or an ambiguous stitch) cut is `truncated`, and ends in a `[truncated]` frame with the marker on."""
        if trace is None:
            trace = self.user_trace(sample)
        frames = self.frames.user_frames(sample, trace.frames)
        if sample.kernel_callchain:
            frames = self.frames.kernel_frames(sample.kernel_callchain) + frames
        # cut short by this sample's copy, by an ambiguous join, or by the copy of the sample it was stitched to
        # (truncated_by_copy asks for BAD_MEMORY first)
        stop = trace.stop
        truncated = stop is StopReason.AMBIGUOUS_STITCH or (
            stop is StopReason.BAD_MEMORY and (truncated_by_copy(self._cut(sample), trace)
                                               or (bool(trace.frames) and trace.frames[-1].via is Via.STITCHED)))
        if truncated and self.marker:
            frames.append(TRUNCATED)
        # positional, in Stack's field order (count 1): keywords make NamedTuple.__new__ slower a sample
        return Stack(sample.comm, sample.pid, sample.tid, sample.time, sample.period, tuple(frames), stop, 1, truncated)

    def resolve_all(self, samples: Iterable[Sample]) -> Iterator[Stack]:
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


CHUNK = 64  # samples per chunk of parallel work
STREAMED = ("perf-script", "json")  # one sample's text after another: chunks can be rendered in parallel
_COUNT = Struct("<Q")  # a chunk rendered in a worker ends with its number of truncated samples


class PerfRun:
    """The stacks of one perf.data recording: iterate for `Stack`s (streamed, in file order), or `render`
    them in a format, perf-script and JSON on several processes (`unwind.write` does so when given `jobs`).

    After the run, `stats` counts the records skipped as damaged and `truncated` the stacks the stack
    copy cut; `stitcher` is the stitching unwinder's (None without stitching)."""

    def __init__(self, session: PerfSession, pipeline: SampleResolver, progress_label: str | None = "unwinding"):
        self.session = session
        self.pipeline = pipeline
        self.progress_label = progress_label
        self.truncated = 0
        self.stitcher = getattr(pipeline.unwinder, "stitcher", None)

    def estimated_samples(self) -> int:
        """About how many samples the recording holds: its data size over the first event's sample size
        (stack copy, user registers, ~64 bytes of the rest); 0 when not known up front (pipe mode)."""
        reader = self.session.reader
        if reader.header is None or not reader.attrs:
            return 0
        attr = reader.attrs[0]
        return reader.header.data.size // (64 + attr.sample_stack_user + 8 * attr.sample_regs_user.bit_count())

    def auto_jobs(self) -> int:
        """The processes worth rendering this recording on now (fanout.auto_workers: samples, free CPUs)."""
        from .fanout import auto_workers

        return auto_workers(self.estimated_samples())

    @property
    def stats(self) -> ReadStats:
        return self.session.reader.stats

    def samples(self) -> Iterator[Sample]:
        samples = self.session.samples()
        if self.progress_label is None:
            return samples
        from .progress import progress

        return progress(samples, self.progress_label)

    def __iter__(self) -> Iterator[Stack]:
        for stack in self.pipeline.resolve_all(self.samples()):
            self.truncated += stack.truncated
            yield stack

    def render(self, fmt: str, jobs: int) -> Iterator[bytes]:
        """The output in `fmt`, in pieces: perf-script and JSON in chunks, rendered on up to `jobs`
        processes unless the unwinder stitches (one stream: each thread's samples complete each other)."""
        from formats.profile import write_profile

        if fmt not in STREAMED:
            yield write_profile(iter(self), fmt)
            return
        render = _ChunkRenderer(self.pipeline, fmt)
        if self.stitcher is not None or jobs < 2:
            for stacks in _batched(iter(self), CHUNK):
                yield render.encode(stacks)
            return
        from .fanout import fan_out

        for data in fan_out(_batched(self.samples(), CHUNK), render, jobs):
            self.truncated += _COUNT.unpack_from(data, len(data) - _COUNT.size)[0]
            yield data[:-_COUNT.size]


class _ChunkRenderer:
    """One chunk of samples unwound, symbolised and printed, then its count of truncated samples; the
    writer (and its memo) lives as long as the run."""

    def __init__(self, pipeline: SampleResolver, fmt: str):
        from formats.perfscript import PerfScriptWriter
        from formats.profile import write_json

        self.resolve = pipeline.resolve
        self.fmt = fmt
        self.write = PerfScriptWriter().write if fmt == "perf-script" else write_json

    def encode(self, stacks: list[Stack]) -> bytes:
        """The chunk's text as write_profile encodes it (a name's undecodable bytes as perf prints them)."""
        from formats.profile import encode_output

        return encode_output(self.write(stacks), self.fmt)

    def __call__(self, samples: list[Sample]) -> bytes:
        stacks = [self.resolve(sample) for sample in samples]
        return self.encode(stacks) + _COUNT.pack(sum(s.truncated for s in stacks))


T = TypeVar("T")


def _batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
