"""Stitching: whole stacks from truncated stack copies, completed by other samples of the same thread.

A walk that stops because the stack copy ended (`bad-memory` with its last frame inside the copy)
is joined to another sample of the same thread that holds a frame with the same pc, the same sp,
the same return-address-ness and the same callee-saved registers (rbx, rbp, r12-r15 for DWARF walks,
which recover them exactly; rbp alone for frame-pointer walks, the only one they recover), and
whose walk went on: that walk's remaining frames are appended, marked `via=stitched`. The outer
frames of a thread do not change while its inner ones run, so a shallower moment (or a copy that
started higher) already holds them.

Index key (pc, sp, return address?, saved registers): sp is the callee's CFA, and at one pc the
frame's own CFA is sp + n (rsp-based rule) or rbp + 16 (rbp-based rule, rbp being in the key), so
equal keys mean equal CFAs. Where candidates disagree (neither continuation is a truncated prefix
of the other) the trace stops with `ambiguous-stitch` instead of guessing.

Memory is bounded: at most `max_threads` threads (least recently sampled dropped), `max_keys` keys
per thread (LRU) and `MAX_CANDIDATES` distinct continuations per key; the walks are shared.
Streaming: `StitchedUnwinder.unwind_all` keeps a look-ahead window of `lookahead` samples, so a
later sample can complete an earlier one; `unwind()` alone stitches from earlier samples only.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping, Protocol, Sequence

from cachetools import LRUCache

from .model import Reg, Sample, StopReason, Trace, Via, truncated_by_copy  # noqa: F401 (truncated_by_copy re-exported)

if TYPE_CHECKING:
    from .unwinders.lbr import LbrUnwinder

CALLEE_SAVED: tuple[int, ...] = (Reg.RBX, Reg.RBP, Reg.R12, Reg.R13, Reg.R14, Reg.R15)
FP_SAVED: tuple[int, ...] = (Reg.RBP,)
MAX_CANDIDATES = 4  # distinct continuations kept per key; one more makes the key ambiguous for good
MAX_JOINS = 64  # joins chained onto one trace
CUT = (StopReason.BAD_MEMORY, StopReason.AMBIGUOUS_STITCH, StopReason.DEPTH_LIMIT)  # walks that stop short
Saved = tuple[int | None, ...]
Key = tuple[int, int, bool, Saved]


@dataclass(frozen=True, slots=True)
class Walked:
    """A trace with, per frame, the callee-saved registers it was joined on and its continuation hash."""

    trace: Trace
    saved: tuple[Saved, ...]
    rest: tuple[int, ...]  # rest[i]: hash of frames[i + 1:] (pc, sp, return address?) and the stop

    @classmethod
    def of(cls, trace: Trace, saved: tuple[Saved, ...]) -> "Walked":
        rest = [0] * len(trace.frames)
        h = hash(trace.stop.value)
        for i in range(len(trace.frames) - 1, -1, -1):
            rest[i] = h
            f = trace.frames[i]
            h = hash((f.pc, f.sp, f.is_return_address, h))
        return cls(trace, saved, tuple(rest))


class _Overfull:
    """The index value of a key with more than MAX_CANDIDATES continuations: ambiguous for good."""


OVERFULL = _Overfull()
Candidates = dict[int, tuple[Walked, int]] | _Overfull


@dataclass(frozen=True, slots=True)
class StitchStats:
    """Counts over the traces `Stitcher.stitch` saw."""

    truncated: int = 0
    stitched: int = 0
    completed: int = 0  # stitched and now reaching the outermost frame (stop `end`)
    ambiguous: int = 0


class Stitcher:
    """The bounded per-thread index of walked frames, and the join of a truncated trace onto it."""

    def __init__(self, registers: Sequence[int] = CALLEE_SAVED, *, max_threads: int = 256, max_keys: int = 16384,
                 max_depth: int = 256):
        self.registers = tuple(registers)
        self.max_keys = max_keys
        self.max_depth = max_depth
        self._threads: LRUCache[tuple[int, int], LRUCache[Key, Candidates]] = LRUCache(maxsize=max_threads)
        self.stats = StitchStats()

    def saved(self, registers: Sequence[Mapping[int, int]]) -> tuple[Saved, ...]:
        """The joined-on registers of every frame, from walk()'s per-frame register values."""
        return tuple(tuple(values.get(r) for r in self.registers) for values in registers)

    def _index(self, sample: Sample) -> LRUCache[Key, Candidates]:
        thread = (sample.pid, sample.tid)
        index = self._threads.get(thread)
        if index is None:
            index = self._threads[thread] = LRUCache(maxsize=self.max_keys)
        return index

    def add(self, sample: Sample, walked: Walked) -> None:
        """Index every frame of an untruncated walk that has frames after it (newest walk wins per continuation)."""
        frames = walked.trace.frames
        if walked.trace.stop.truncated or len(walked.saved) != len(frames):
            return  # only walks that went on to their end (or were completed) are continuations
        index = self._index(sample)
        for i in range(len(frames) - 1):
            f = frames[i]
            if f.sp is None:
                continue
            key = (f.pc, f.sp, f.is_return_address, walked.saved[i])
            found = index.get(key)
            if found is None:
                index[key] = {walked.rest[i]: (walked, i)}
            elif isinstance(found, dict):
                found[walked.rest[i]] = (walked, i)
                if len(found) > MAX_CANDIDATES:
                    index[key] = OVERFULL

    def stitch(self, sample: Sample, walked: Walked) -> Walked:
        """`walked` completed from the index where it stopped at the end of the stack copy."""
        if not truncated_by_copy(sample, walked.trace):
            return walked
        stats = self.stats
        stats_truncated = stats.truncated + 1
        index = self._index(sample)
        result = walked
        joins = 0
        while joins < MAX_JOINS and result.trace.stop is StopReason.BAD_MEMORY:
            found = self._continuation(index, result)
            if found is None:
                break
            if not isinstance(found, tuple):
                result = Walked(Trace(result.trace.frames, StopReason.AMBIGUOUS_STITCH), result.saved, result.rest)
                break
            result = self._join(result, *found)
            joins += 1
        stop = result.trace.stop
        self.stats = StitchStats(
            stats_truncated, stats.stitched + (joins > 0), stats.completed + (joins > 0 and stop == StopReason.END),
            stats.ambiguous + (stop == StopReason.AMBIGUOUS_STITCH))
        return result

    def _continuation(self, index: LRUCache[Key, Candidates], walked: Walked) -> "tuple[Walked, int] | object | None":
        """The one continuation of `walked`'s last frame, OVERFULL_CHOICE where candidates disagree, or None."""
        last = walked.trace.frames[-1]
        if last.sp is None or len(walked.saved) != len(walked.trace.frames):
            return None
        found = index.get((last.pc, last.sp, last.is_return_address, walked.saved[-1]))
        if found is None:
            return None
        if not isinstance(found, dict):
            return OVERFULL_CHOICE
        candidates = sorted(found.values(), key=lambda c: len(c[0].trace.frames) - c[1], reverse=True)
        longest, at = candidates[0]
        longest_rest = [(f.pc, f.sp) for f in longest.trace.frames[at + 1:]]
        for other, other_at in candidates[1:]:
            rest = [(f.pc, f.sp) for f in other.trace.frames[other_at + 1:]]
            if not (other.trace.stop in CUT and longest_rest[:len(rest)] == rest):
                return OVERFULL_CHOICE
        if len(longest.trace.frames) == at + 1:
            return None
        return longest, at

    def _join(self, walked: Walked, donor: Walked, at: int) -> Walked:
        """`walked` with `donor`'s frames after its frame `at` appended, via=stitched."""
        frames = walked.trace.frames + tuple(
            f if f.via is Via.STITCHED else f._replace(via=Via.STITCHED) for f in donor.trace.frames[at + 1:])
        saved = walked.saved + donor.saved[at + 1:]
        stop = donor.trace.stop
        if len(frames) > self.max_depth:
            frames, saved, stop = frames[:self.max_depth], saved[:self.max_depth], StopReason.DEPTH_LIMIT
        return Walked.of(Trace(frames, stop), saved)


OVERFULL_CHOICE = object()  # _continuation's answer when the candidates disagree


class RecordingUnwinder(Protocol):
    """A base walk that hands out each frame's recovered registers (the dwarf and fp unwinders)."""

    def unwind(self, sample: Sample, *, registers: list[dict[int, int]] | None = None) -> Trace: ...


class StitchedUnwinder:
    """`dwarf-stitched`, `fp-stitched`: the base walk, then truncated traces completed by other samples."""

    def __init__(self, base: RecordingUnwinder, name: str, registers: Sequence[int] = CALLEE_SAVED, *,
                 lookahead: int = 256, max_keys: int = 16384, max_threads: int = 256):
        self.base = base
        self.name = name
        self.lookahead = lookahead
        self.stitcher = Stitcher(registers, max_threads=max_threads, max_keys=max_keys,
                                 max_depth=getattr(base, "max_depth", 256))

    def _walk(self, sample: Sample) -> Walked:
        registers: list[dict[int, int]] = []
        trace = self.base.unwind(sample, registers=registers)
        return Walked.of(trace, self.stitcher.saved(registers))

    def unwind(self, sample: Sample) -> Trace:
        """One sample, stitched from the samples seen before it (no look-ahead)."""
        walked = self._walk(sample)
        self.stitcher.add(sample, walked)
        stitched = self.stitcher.stitch(sample, walked)
        if stitched is not walked:
            self.stitcher.add(sample, stitched)
        return stitched.trace

    def unwind_all(self, samples: Iterable[Sample]) -> Iterator[Trace]:
        """Every sample's trace in order; each is stitched once `lookahead` later samples are indexed."""
        window: deque[tuple[Sample, Walked]] = deque()
        for sample in samples:
            walked = self._walk(sample)
            self.stitcher.add(sample, walked)
            window.append((sample, walked))
            if len(window) > self.lookahead:
                yield self._finish(*window.popleft())
        while window:
            yield self._finish(*window.popleft())

    def _finish(self, sample: Sample, walked: Walked) -> Trace:
        stitched = self.stitcher.stitch(sample, walked)
        if stitched is not walked:
            self.stitcher.add(sample, stitched)
        return stitched.trace


def dwarf_stitched(*, lookahead: int = 256, **options: Any) -> StitchedUnwinder:
    """Registry factory `dwarf-stitched`: the dwarf unwinder's options plus `lookahead`."""
    from .unwinders.dwarf import DwarfUnwinder

    return StitchedUnwinder(DwarfUnwinder(**options), "dwarf-stitched", CALLEE_SAVED, lookahead=lookahead)


def fp_stitched(*, lookahead: int = 256, **options: Any) -> StitchedUnwinder:
    """Registry factory `fp-stitched`: the fp unwinder's options plus `lookahead`."""
    from .unwinders.fp import FramePointerUnwinder

    return StitchedUnwinder(FramePointerUnwinder(**options), "fp-stitched", FP_SAVED, lookahead=lookahead)


def lbr_stitched(**options: Any) -> LbrUnwinder:
    """Registry factory `lbr-stitched`: the LBR call stack extended from the thread's previous sample."""
    from .unwinders.lbr import LbrUnwinder

    unwinder = LbrUnwinder(**{**options, "stitch": True})
    unwinder.name = "lbr-stitched"
    return unwinder


STITCHED = {"dwarf": "dwarf-stitched", "fp": "fp-stitched", "lbr": "lbr-stitched"}


def stitched_name(name: str) -> str | None:
    """The registry name of `name`'s stitched variant, if it has one."""
    return STITCHED.get(name)


@dataclass(frozen=True, slots=True)
class StitchScore:
    """Stitched frames of one trace against the ground truth (frames at the same depth)."""

    stitched: int  # frames via=stitched
    wrong: int  # of those, frames whose pc is not the truth's at that depth

    @classmethod
    def of(cls, trace: Trace, truth: Sequence[int]) -> "StitchScore":
        stitched = wrong = 0
        for depth, frame in enumerate(trace.frames):
            if frame.via is Via.STITCHED:
                stitched += 1
                wrong += depth >= len(truth) or truth[depth] != frame.pc
        return cls(stitched, wrong)
