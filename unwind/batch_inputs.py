"""One input of `unwind batch`, on a worker: its build-ids (the plan's cheap first pass), its binaries'
tables built into the shared cache directory, and its samples unwound and symbolised into a partial
profile (identical stacks summed).

A worker keeps one `InputProfiler` per option set (the Dask worker plugin of unwind/batch.py owns
it), so every input a worker takes reuses the ELF files, symbol indexes and CFI tables it opened.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from formats.errors import UnwindError
from formats.stack import Frame, Stack

PERF_MAGIC = b"PERFILE2"
MAPS_SUFFIX = ".maps"  # a stack file's saved /proc/PID/maps lies beside it as FILE.maps


@dataclass(frozen=True, slots=True)
class BatchOptions:
    """How every input is unwound and symbolised (the same on every worker)."""

    unwinder: str = "dwarf"
    inlines: bool = False
    max_depth: int = 127
    lines: bool = True  # source lines where the symbol table names the function (not needed for folded)
    truncated_marker: bool = True  # a stack the copy cut ends in a `[truncated]` root frame
    symfs: str | None = None
    debug_dirs: tuple[str, ...] = ()
    cache_dir: str | None = None  # where indexes and CFI tables persist: shared by every worker
    kallsyms: str | None = None


@dataclass(frozen=True, slots=True)
class InputPlan:
    """What the first pass learnt of one input: its kind, label and the build-ids it maps."""

    index: int
    path: str
    kind: str  # "perf" or "stacks"
    host: str | None
    build_ids: tuple[tuple[str, str], ...]  # (build-id hex, file name) of every binary the recording names
    size: int


@dataclass(frozen=True, slots=True)
class Failure:
    """An input that could not be read: skipped, and reported with the reason."""

    path: str
    reason: str


Head = tuple[Any, ...]  # a stack without its frames and time: what `stack_head` keeps
Key = tuple[int, Head, tuple[int, ...]]  # (input index, head, frame ids into the profile's frame table)


def stack_head(sample: Stack) -> Head:
    """What identifies a stack besides its frames (its time is dropped: samples merge across time)."""
    return (sample.comm, sample.pid, sample.tid, sample.period)


def make_stack(head: Head, frames: tuple[Frame, ...]) -> Stack:
    """The stack a head and its frames stand for (the inverse of `stack_head`, time 0)."""
    comm, pid, tid, period = head
    return Stack(comm, pid, tid, 0, period, frames)


@dataclass(frozen=True, slots=True)
class PartialProfile:
    """Samples summed per identical (input, symbolised stack); small and picklable, merged pairwise.

    Frames are interned: each distinct frame is once in `frames`, and a stack is a tuple of indexes into
    it, so keys hash, compare and pickle as small integers."""

    frames: tuple[Frame, ...] = ()
    counts: Counter[Key] = field(default_factory=Counter)
    samples: int = 0
    failures: tuple[Failure, ...] = ()
    # (build-id or "", module) -> frames left [unknown]
    missing: Counter[tuple[str, str]] = field(default_factory=Counter)
    done: int = 0  # inputs merged in

    def merge(self, other: PartialProfile) -> PartialProfile:
        """The two profiles summed (neither is changed); `other`'s frame ids are mapped into this table."""
        if len(other.counts) > len(self.counts):  # remap the smaller side
            return other.merge(self)
        index = {frame: i for i, frame in enumerate(self.frames)}
        frames = list(self.frames)
        remap: list[int] = []
        for frame in other.frames:
            i = index.get(frame)
            if i is None:
                i = index[frame] = len(frames)
                frames.append(frame)
            remap.append(i)
        counts = self.counts.copy()
        for (input_index, head, ids), n in other.counts.items():
            counts[(input_index, head, tuple([remap[i] for i in ids]))] += n
        missing = self.missing.copy()
        missing.update(other.missing)
        return PartialProfile(tuple(frames), counts, self.samples + other.samples, self.failures + other.failures,
                              missing, self.done + other.done)

    def stacks(self) -> list[tuple[int, Stack, int]]:
        """(input index, stack, samples) of every distinct stack."""
        return [(index, make_stack(head, tuple(self.frames[i] for i in ids)), n)
                for (index, head, ids), n in self.counts.items()]


class _FrameTable:
    """Interns an input's frames; the resolver hands out the same frame object for the same address, so
    most lookups are by identity."""

    def __init__(self, missing: Callable[[Frame], bool]) -> None:
        self.frames: list[Frame] = []
        self.missing: list[bool] = []
        self._by_id: dict[int, int] = {}
        self._by_value: dict[Frame, int] = {}
        self._is_missing = missing

    def ids(self, frames: Iterable[Frame]) -> tuple[int, ...]:
        out = []
        for frame in frames:
            # only the table's own frame objects are looked up by identity: they stay alive, so their ids
            # are never reused by another object
            i = self._by_id.get(id(frame))
            if i is None:
                i = self._by_value.get(frame)
                if i is None:
                    i = self._by_value[frame] = len(self.frames)
                    self.frames.append(frame)
                    self.missing.append(self._is_missing(frame))
                    self._by_id[id(frame)] = i
            out.append(i)
        return tuple(out)


def input_kind(path: str) -> str:
    """"perf" for a perf.data file (file or pipe mode), else "stacks" (raw stack text)."""
    with open(path, "rb") as fh:
        return "perf" if fh.read(8) == PERF_MAGIC else "stacks"


def plan_input(index: int, path: str) -> InputPlan:
    """The cheap first pass: the perf.data header (build-id table, host name); no record is decoded."""
    size = os.stat(path).st_size
    if input_kind(path) == "stacks":
        return InputPlan(index, path, "stacks", None, (), size)
    from formats.perfdata import PerfDataReader
    from formats.perfdata.constants import HEADER_FEATURE
    from formats.perfdata.header import parse_string

    reader = PerfDataReader(path)
    try:
        if reader.header is not None and reader.header.data.end > size:
            from formats.errors import TruncatedError

            raise TruncatedError(f"truncated: the data section ends at {reader.header.data.end:#x}, past the end of "
                                 f"the file ({size:#x} bytes)", path, size)
        blob = reader.features.get(HEADER_FEATURE.HOSTNAME)
        host = parse_string(blob, reader.endian) if blob else None
        ids = tuple(dict.fromkeys((b.build_id.hex(), b.filename) for b in reader.build_ids
                                  if b.filename.startswith("/")))
    finally:
        reader.close()
    return InputPlan(index, path, "perf", host or None, ids, size)


class InputProfiler:
    """Unwinds and symbolises inputs with one option set; its resolver, symbolizer and CFI cache live as
    long as the worker that owns it."""

    def __init__(self, options: BatchOptions):
        from .debuginfo import DEFAULT_DEBUG_DIRS
        from .kernel import KernelTables
        from .modules import ModuleResolver
        from .pipeline import SampleResolver
        from .symbolizer import Symbolizer
        from .unwinders import get_unwinder

        self.options = options
        debug_dirs = options.debug_dirs or DEFAULT_DEBUG_DIRS
        self.resolver = ModuleResolver(symfs=options.symfs, debug_dirs=debug_dirs)
        self.symbolizer = Symbolizer(symfs=options.symfs, debug_dirs=debug_dirs, inlines=options.inlines,
                                     naming="perf", index_dir=options.cache_dir)
        self.kernels = KernelTables(options.kallsyms, options.cache_dir)
        self.kernel = self.kernels.get()
        unwinder = get_unwinder(options.unwinder, resolver=self.resolver, max_depth=options.max_depth,
                                cache_dir=options.cache_dir)
        self.pipeline = SampleResolver(unwinder, self.symbolizer, self.resolver, self.kernel, options.inlines,
                                       lines=options.lines, truncated_marker=options.truncated_marker)
        self._missing: dict[tuple[str | None, str | None], bool] = {}

    def warm(self, build_id: str, filename: str) -> bool:
        """Build (or load) one binary's symbol index and CFI table into the cache directory; False when
        the binary is not found."""
        path = self.resolver.locate(filename, bytes.fromhex(build_id))
        elf = self.resolver.open(path) if path else None
        if path is None or elf is None:
            return False
        self.symbolizer.module(path)
        prepare = getattr(self.pipeline.unwinder, "prepare", None)  # unwinders with persisted tables have it
        if prepare is not None:
            prepare(elf)
        return True

    def profile(self, plan: InputPlan) -> PartialProfile:
        """One input's partial profile; an unreadable input gives an empty one with its failure."""
        counts: Counter[Key] = Counter()
        lost: Counter[int] = Counter()  # frame id -> samples, of frames whose binary is missing
        table = _FrameTable(self._is_missing)
        samples = 0
        try:
            if plan.kind == "perf":
                stream, skipped = self._perf_samples(plan.path)
            else:
                stream, skipped = self._stack_samples(plan.path), None
            for sample, weight in stream:
                samples += weight
                ids = table.ids(sample.frames)
                counts[(plan.index, stack_head(sample), ids)] += weight
                for i in ids:
                    if table.missing[i]:
                        lost[i] += weight
            problem = skipped() if skipped is not None else None
            if problem:  # a damaged recording is skipped whole: its readable part would skew the merge
                return PartialProfile(failures=(Failure(plan.path, problem),), done=1)
        except (UnwindError, OSError) as exc:
            return PartialProfile(failures=(Failure(plan.path, _reason(exc)),), done=1)
        build_ids = {name: build_id for build_id, name in plan.build_ids}
        missing: Counter[tuple[str, str]] = Counter()
        for i, n in lost.items():
            module = table.frames[i].module or ""
            missing[(table.frames[i].build_id or build_ids.get(module, ""), module)] += n
        return PartialProfile(tuple(table.frames), counts, samples, (), missing, 1)

    def _perf_samples(self, path: str) -> tuple[Iterator[tuple[Stack, int]], Any]:
        from .perfsession import PerfSession

        session = PerfSession(path)
        # a recording of another kernel (another host's) is named by that kernel's kallsyms, as perf script does
        self.pipeline.frames.use_kernel(self.kernels.get(session.kernel_build_id))

        def stream() -> Iterator[tuple[Stack, int]]:
            for sample in session.samples():
                yield self.pipeline.resolve(sample), 1

        def skipped() -> str | None:
            stats = session.reader.stats
            if not stats.skipped:
                return None
            first = stats.skips[0]
            return f"skipped {stats.skipped} damaged or unreadable records (first at offset {first.offset:#x}: " \
                   f"{first.reason})"

        return stream(), skipped

    def _stack_samples(self, path: str) -> Iterator[tuple[Stack, int]]:
        from formats.stacktext import parse_stacks

        from .rawstacks import RawStackResolver, module_map_from_maps
        from .resolve import FrameResolver

        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
        modules = None
        if os.path.exists(path + MAPS_SUFFIX):
            with open(path + MAPS_SUFFIX, encoding="utf-8", errors="surrogateescape") as fh:
                modules = module_map_from_maps(fh.read(), path + MAPS_SUFFIX)
        frames = FrameResolver(self.symbolizer, self.resolver, self.kernel, self.options.inlines)
        raw = RawStackResolver(frames, self.resolver, modules, None)
        for stack in parse_stacks(text, path):
            s = raw.resolve(stack)
            yield Stack(s.comm or "", s.pid or 0, s.tid or 0, 0, 1, s.frames), max(s.count, 1)

    def _is_missing(self, frame: Frame) -> bool:
        """Whether the frame's binary cannot be found (its frames stay [unknown], named by module)."""
        if frame.symbol is not None or not frame.module or frame.kernel:
            return False
        key = (frame.module, frame.build_id)
        found = self._missing.get(key)
        if found is None:
            build_id = bytes.fromhex(frame.build_id) if frame.build_id else None
            found = self._missing[key] = self.resolver.locate(frame.module, build_id) is None
        return found


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)
