"""Score unwinders on identical samples against ground truth, a reference unwinder or the recorded callchain.

Per unwinder and sample: the emitted pcs are matched to the reference pcs by their longest common
subsequence (LCS). exact = same pcs, same length; frame recall = sum(LCS) / sum(reference frames);
wrong frames = sum(emitted - LCS); correct prefix = leading frames equal to the reference. An
unwinder that raises scores nothing for that sample and the message is kept (stop `error`).
"""

from __future__ import annotations

import gc
import os
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import FormatError, UnwindError, UsageError
from .locations import Location, LocationClass, LocationClassifier
from .model import Sample, Unwinder

if TYPE_CHECKING:
    from formats.report import CompareJson, GroupJson, SweepJson, UnwinderJson

TRUTH, CALLCHAIN = "truth", "callchain"
ERROR_STOP = "error"
LOCATION_CLASSES = tuple(c.value for c in LocationClass)
KEPT_ERRORS = 20  # error messages kept per unwinder; all are counted
_HERE = os.path.abspath(__file__)  # allocations made here (the scores) are not the unwinder's tables

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class SampleScore:
    """One unwinder on one sample."""

    exact: bool
    matched: int
    emitted: int
    reference: int
    prefix: int
    stop: str
    error: str | None = None
    exact_to_main: bool = False


@dataclass(frozen=True, slots=True)
class Group:
    """Totals over a subset of samples (one location class, module or function)."""

    samples: int = 0
    exact: int = 0
    matched: int = 0
    reference: int = 0
    exact_to_main: int = 0

    def add(self, score: SampleScore) -> Group:
        return Group(self.samples + 1, self.exact + score.exact, self.matched + score.matched,
                     self.reference + score.reference, self.exact_to_main + score.exact_to_main)

    @property
    def exact_rate(self) -> float:
        return self.exact / self.samples if self.samples else 0.0

    @property
    def frame_recall(self) -> float:
        return self.matched / self.reference if self.reference else 0.0

    @property
    def exact_to_main_rate(self) -> float:
        return self.exact_to_main / self.samples if self.samples else 0.0

    def to_json(self) -> GroupJson:
        return {"samples": self.samples, "exact": self.exact, "exact_rate": self.exact_rate,
                "frame_recall": self.frame_recall, "exact_to_main_rate": self.exact_to_main_rate}


@dataclass(frozen=True, slots=True)
class UnwinderReport:
    """Every metric of one unwinder over the scored samples."""

    name: str
    scores: tuple[SampleScore, ...]
    by_location: dict[str, Group]
    by_module: dict[str, Group]
    by_function: dict[str, Group]
    seconds: float
    calls: int
    table_bytes: int | None = None
    peak_bytes: int | None = None
    traces: tuple[tuple[int, ...], ...] | None = None

    @property
    def samples(self) -> int:
        return len(self.scores)

    @property
    def exact(self) -> int:
        return sum(s.exact for s in self.scores)

    @property
    def exact_rate(self) -> float:
        return self.exact / self.samples if self.samples else 0.0

    @property
    def exact_to_main(self) -> int:
        """Samples whose frames from the leaf through main are right (start-up frames beyond main ignored)."""
        return sum(s.exact_to_main for s in self.scores)

    @property
    def frame_recall(self) -> float:
        reference = sum(s.reference for s in self.scores)
        return sum(s.matched for s in self.scores) / reference if reference else 0.0

    @property
    def wrong_frames(self) -> int:
        return sum(s.emitted - s.matched for s in self.scores)

    @property
    def stops(self) -> dict[str, int]:
        return dict(sorted(Counter(s.stop for s in self.scores).items()))

    @property
    def failures(self) -> int:
        return sum(s.error is not None for s in self.scores)

    @property
    def errors(self) -> list[tuple[int, str]]:
        return [(i, s.error) for i, s in enumerate(self.scores) if s.error is not None][:KEPT_ERRORS]

    @property
    def prefix_depths(self) -> dict[int, int]:
        """Correct-prefix depth -> samples."""
        return dict(sorted(Counter(s.prefix for s in self.scores).items()))

    @property
    def cost_us(self) -> float:
        """Mean wall time of one unwind() call in microseconds (warm tables)."""
        return self.seconds / self.calls * 1e6 if self.calls else 0.0

    def to_json(self) -> UnwinderJson:
        return {
            "exact": self.exact, "exact_rate": self.exact_rate, "frame_recall": self.frame_recall,
            "wrong_frames": self.wrong_frames, "stops": self.stops,
            "by_location": {c: self.by_location.get(c, Group()).to_json() for c in LOCATION_CLASSES},
            "samples": self.samples, "failures": self.failures, "exact_to_main": self.exact_to_main,
            "exact_to_main_rate": self.exact_to_main / self.samples if self.samples else 0.0,
            "errors": [{"sample": i, "message": m} for i, m in self.errors],
            "reference_frames": sum(s.reference for s in self.scores),
            "emitted_frames": sum(s.emitted for s in self.scores),
            "matched_frames": sum(s.matched for s in self.scores),
            "prefix_depths": {str(k): v for k, v in self.prefix_depths.items()},
            "cost_us": self.cost_us, "table_bytes": self.table_bytes, "peak_bytes": self.peak_bytes,
            "by_module": {k: g.to_json() for k, g in sorted(self.by_module.items())},
            "by_function": {k: g.to_json() for k, g in sorted(self.by_function.items())},
        }


@dataclass(frozen=True, slots=True)
class ComparisonReport:
    """All unwinders scored on the same samples against one reference."""

    samples: int
    reference: str
    unwinders: dict[str, UnwinderReport]
    locations: tuple[Location, ...]
    references: tuple[tuple[int, ...], ...] = ()
    indices: tuple[int, ...] = ()  # positions of the scored samples in the input
    skipped: int = 0

    def location_counts(self) -> dict[str, int]:
        counts = Counter(str(loc.cls) for loc in self.locations)
        return {c: counts.get(c, 0) for c in LOCATION_CLASSES}

    def to_json(self) -> CompareJson:
        """The DESIGN.md contract shape (callers add the optional keys: lbr_sweep, title, ...)."""
        return {"samples": self.samples, "reference": self.reference,
                "unwinders": {name: r.to_json() for name, r in self.unwinders.items()},
                "skipped": self.skipped, "locations": self.location_counts()}


def lcs_length(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common subsequence of two pc lists (common prefix/suffix stripped first)."""
    lo = 0
    while lo < len(a) and lo < len(b) and a[lo] == b[lo]:
        lo += 1
    ha, hb = len(a), len(b)
    while ha > lo and hb > lo and a[ha - 1] == b[hb - 1]:
        ha, hb = ha - 1, hb - 1
    core_a, core_b = a[lo:ha], b[lo:hb]
    row = [0] * (len(core_b) + 1)
    for x in core_a:
        prev = 0
        for j, y in enumerate(core_b):
            cur = row[j + 1]
            row[j + 1] = prev + 1 if x == y else max(row[j + 1], row[j])
            prev = cur
    return lo + (len(a) - ha) + row[-1]


def score(pcs: Sequence[int] | None, reference: Sequence[int], stop: str, error: str | None = None,
          main_depth: int | None = None) -> SampleScore:
    """The metrics of one emitted stack against its reference (`main_depth`: frames through main, if known)."""
    pcs = tuple(pcs or ())
    reference = tuple(reference)
    prefix = 0
    while prefix < len(pcs) and prefix < len(reference) and pcs[prefix] == reference[prefix]:
        prefix += 1
    exact = pcs == reference
    to_main = exact or (main_depth is not None and prefix >= main_depth)
    return SampleScore(exact, lcs_length(pcs, reference), len(pcs), len(reference), prefix, stop, error, to_main)


def reference_stacks(samples: Sequence[Sample], reference: str,
                     unwinders: dict[str, Unwinder]) -> list[tuple[int, ...] | None]:
    """The reference pcs of every sample (None where the sample has none)."""
    if reference == TRUTH:
        stacks: list[tuple[int, ...] | None] = [tuple(s.truth) if s.truth is not None else None for s in samples]
        if samples and all(s is None for s in stacks):
            raise UsageError("the samples carry no ground truth: name a reference unwinder "
                             "(--reference fp|dwarf|orc|lbr|auto) or 'callchain'")
        return stacks
    if reference == CALLCHAIN:
        stacks = [tuple(s.user_callchain) or None for s in samples]
        if samples and all(s is None for s in stacks):
            raise UsageError("the samples carry no recorded user callchain to use as the reference")
        return stacks
    if not reference:
        raise UsageError("no reference: pass reference='truth', 'callchain' or an unwinder name")
    unwinder = unwinders.get(reference)
    if unwinder is None:
        from .unwinders import get_unwinder

        unwinder = get_unwinder(reference)
    stacks = []
    for sample in samples:
        try:
            stacks.append(unwinder.unwind(sample).pcs)
        except UnwindError:  # a reference that cannot unwind this sample's data leaves it unscored
            stacks.append(None)
    return stacks


def _run(unwinder: Unwinder, sample: Sample) -> tuple[tuple[int, ...] | None, str, str | None]:
    try:
        trace = unwinder.unwind(sample)
    except UnwindError as exc:  # a strategy's data error is a result; its bugs propagate
        return None, ERROR_STOP, f"{type(exc).__name__}: {exc}"
    return tuple(f.pc for f in trace.frames), str(trace.stop), None


def _results(unwinder: Unwinder, samples: Sequence[Sample]) -> Iterator[tuple[tuple[int, ...] | None, str, str | None]]:
    """_run over every sample; an unwinder with `unwind_all` (stitching: it looks at other samples of
    the thread) gets the whole stream, and an error it raises propagates."""
    unwind_all = getattr(unwinder, "unwind_all", None)
    if unwind_all is None:
        for sample in samples:
            yield _run(unwinder, sample)
        return
    for trace in unwind_all(samples):
        yield tuple(f.pc for f in trace.frames), str(trace.stop), None


def score_unwinder(name: str, unwinder: Unwinder, samples: Sequence[Sample], references: Sequence[tuple[int, ...]],
                   locations: Sequence[Location], *, measure_memory: bool = True, measure_time: bool = True,
                   keep_traces: bool = False, progress: Progress | None = None) -> UnwinderReport:
    """A scoring pass (under tracemalloc for the table size), then a warm timing pass whose results are dropped."""
    tracing = measure_memory and not tracemalloc.is_tracing()
    if tracing:
        gc.collect()
        tracemalloc.start()
    scores, traces = [], []
    start = time.perf_counter()
    for i, (pcs, stop, error) in enumerate(_results(unwinder, samples)):
        scores.append(score(pcs, references[i], stop, error, locations[i].main_depth))
        if keep_traces:
            traces.append(pcs or ())
        if progress:
            progress(name, i + 1, len(samples))
    seconds = time.perf_counter() - start
    table_bytes = peak = None
    if tracing:
        gc.collect()
        snapshot = tracemalloc.take_snapshot()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        kept = snapshot.filter_traces([tracemalloc.Filter(False, _HERE)])
        table_bytes = sum(stat.size for stat in kept.statistics("filename"))
    reported = getattr(unwinder, "table_bytes", None)
    if callable(reported):
        table_bytes = reported()
    if measure_time:
        start = time.perf_counter()
        for _ in _results(unwinder, samples):
            pass
        seconds = time.perf_counter() - start
    by_location: dict[str, Group] = {}
    by_module: dict[str, Group] = {}
    by_function: dict[str, Group] = {}
    for sc, loc in zip(scores, locations):
        for groups, key in ((by_location, str(loc.cls)), (by_module, loc.module or "?"),
                            (by_function, loc.function or "?")):
            groups[key] = groups.get(key, Group()).add(sc)
    return UnwinderReport(name, tuple(scores), by_location, by_module, by_function, seconds, len(samples),
                          table_bytes, peak, tuple(traces) if keep_traces else None)


def compare(samples: Iterable[Sample], unwinders: dict[str, Unwinder], reference: str = TRUTH, *,
            classifier: LocationClassifier | None = None, measure_memory: bool = True, measure_time: bool = True,
            keep_traces: bool = False, progress: Progress | None = None) -> ComparisonReport:
    """Score every unwinder on the same samples; samples without a reference stack are skipped (counted)."""
    samples = list(samples)
    if not unwinders:
        raise UsageError("no unwinders to compare")
    stacks = reference_stacks(samples, reference, unwinders)
    indices = [i for i, r in enumerate(stacks) if r]
    scored = [samples[i] for i in indices]
    references = [r for r in stacks if r]  # stacks[i] for i in indices
    classifier = classifier or LocationClassifier()
    locations = tuple(classifier.classify(s, r) for s, r in zip(scored, references))
    reports = {name: score_unwinder(name, u, scored, references, locations, measure_memory=measure_memory,
                                    measure_time=measure_time, keep_traces=keep_traces, progress=progress)
               for name, u in unwinders.items()}
    return ComparisonReport(len(scored), reference, reports, locations, tuple(references), tuple(indices),
                            len(samples) - len(scored))


def truncate_lbr(samples: Iterable[Sample], depth: int) -> list[Sample]:
    """The samples as a `depth`-entry LBR would have recorded them: the newest `depth` entries."""
    return [s._replace(lbr=s.lbr[:depth]) for s in samples]


def lbr_sweep(samples: Sequence[Sample], report: ComparisonReport, make_lbr: Callable[..., Unwinder],
              depths: Sequence[int] = (4, 8, 16, 32), stitch: bool = True) -> dict[str, SweepJson]:
    """LBR exact rate and frame recall per hardware depth (recorded buffer truncated) and stitched at full depth.

    `samples` are the ones `report` was made from; only those it scored are used.
    """
    samples = [samples[i] for i in report.indices]
    references = report.references
    runs: dict[str, tuple[Unwinder, Sequence[Sample]]] = {
        str(d): (make_lbr(depth=d), truncate_lbr(samples, d)) for d in depths}
    if stitch:
        runs["stitched"] = (make_lbr(depth=max(depths), stitch=True), list(samples))
    out: dict[str, SweepJson] = {}
    for key, (unwinder, subset) in runs.items():
        r = score_unwinder(f"lbr-{key}", unwinder, subset, references, report.locations, measure_memory=False,
                           measure_time=False)
        out[key] = {"exact": r.exact, "exact_rate": r.exact_rate, "frame_recall": r.frame_recall,
                    "samples": r.samples}
    return out


def attach_truth(samples: Sequence[Sample], truth: Sequence[tuple[int, int, tuple[int, ...]]]) -> list[Sample]:
    """Samples with `.truth` from a truth sidecar's (time, tid, frames): matched by (time, tid), else by position."""
    by_key: dict[tuple[int, int], tuple[int, ...]] = {}
    for t, tid, frames in truth:
        by_key.setdefault((t, tid), frames)
    if len(by_key) == len(truth) and all((s.time, s.tid) in by_key for s in samples):
        return [s._replace(truth=by_key[(s.time, s.tid)]) for s in samples]
    if len(truth) != len(samples):
        raise UsageError(f"the truth file has {len(truth)} lines for {len(samples)} samples")
    return [s._replace(truth=frames) for s, (_, _, frames) in zip(samples, truth)]


def read_truth_file(path: str) -> list[tuple[int, int, tuple[int, ...]]]:
    """(time, tid, frames) per line of a truth sidecar; anything malformed is a UsageError naming the file."""
    from .sim.sampler import read_truth

    try:
        return read_truth(path)
    except FormatError as exc:
        raise UsageError(f"{path}: not a truth file ({exc.message})") from None


def load_recording(path: str, truth_path: str | None = None) -> list[Sample]:
    """The samples of a perf.data, with ground truth from PATH.truth.jsonl (or `truth_path`) when it exists."""
    from .perfsession import read_samples

    samples = read_samples(path)
    truth_path = truth_path or path + ".truth.jsonl"
    if os.path.isfile(truth_path):
        samples = attach_truth(samples, read_truth_file(truth_path))
    return samples


def make_unwinder(name: str, **options: Any) -> Unwinder:
    """An unwinder by registry name (`fp-naive` and `lbr-stitched` are registry names too)."""
    from .unwinders import get_unwinder

    return get_unwinder(name, **options)
