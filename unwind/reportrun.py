"""What `perf report` reads from a recording besides the stacks: the event's name, the lost samples,
each thread's final comm and the order perf met the mapped files (which orders equal call-graph
siblings) — gathered while the recording's stacks stream by, in one pass.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

from formats.perfdata import CommRecord, Mmap2Record, MmapRecord, OtherRecord, SampleRecord
from formats.perfdata.constants import HEADER_FEATURE, PERF_RECORD
from formats.perfreport import Report, ReportOptions, event_desc_names, event_name
from formats.stack import Stack

from .errors import UsageError
from .model import Sample
from .perfsession import PerfSession
from .pipeline import PerfRun
from .report import build_report

_LOST = struct.Struct("<Q")
PERF_MAGIC = b"PERFILE2"
GZIP_MAGIC = b"\x1f\x8b"  # a pprof profile as `unwind perf`/`unwind batch --format pprof` write it


@dataclass(slots=True)
class RecordingFacts:
    """Header facts of one recording; `comms` and `dso_order` are complete once its stacks were read."""

    event: str
    lost: int = 0
    comms: dict[int, str] = field(default_factory=dict)
    dso_order: list[str] = field(default_factory=list)


def input_kind(path: str) -> str:
    """`perf.data` (file or pipe mode), `pprof` (gzipped profile) or `stacks` (text `unwind stacks` reads)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(PERF_MAGIC))
    except OSError:
        return "stacks"   # not readable here: the stack-text reader names the problem
    if head == PERF_MAGIC:
        return "perf.data"
    return "pprof" if head.startswith(GZIP_MAGIC) else "stacks"


def recording_event(session: PerfSession) -> str:
    """The first event's name as perf prints it: from the EVENT_DESC header feature, else from its attr."""
    reader = session.reader
    names = event_desc_names(reader.features.get(HEADER_FEATURE.EVENT_DESC, b""), reader.endian == "<")
    if names:
        return names[0]
    if reader.attrs:
        return event_name(reader.attrs[0].type, reader.attrs[0].config)
    return "unknown"


def _samples(session: PerfSession, facts: RecordingFacts) -> Iterator[Sample]:
    """The recording's samples, noting the facts on the way (records after their effect on the state)."""
    for record in session.events():
        if isinstance(record, SampleRecord):
            yield session.to_sample(record)
        elif isinstance(record, (MmapRecord, Mmap2Record)):
            facts.dso_order.append(record.filename)
        elif isinstance(record, CommRecord):
            facts.comms[record.tid] = record.comm
        elif isinstance(record, OtherRecord) and record.type == PERF_RECORD.LOST_SAMPLES \
                and len(record.payload) >= _LOST.size:
            facts.lost += _LOST.unpack_from(record.payload)[0]


def perf_stacks(run: PerfRun) -> tuple[Iterator[Stack], RecordingFacts]:
    """The stacks of a run and its facts (filled in as the stacks are consumed)."""
    facts = RecordingFacts(recording_event(run.session))
    return run.pipeline.resolve_all(_samples(run.session, facts)), facts


def report_of_run(run: PerfRun, options: ReportOptions) -> Report:
    """The whole recording as perf report's histogram (one pass over its records)."""
    stacks, facts = perf_stacks(run)
    truncated = 0

    def counted() -> Iterator[Stack]:
        nonlocal truncated
        for stack in stacks:
            truncated += stack.truncated
            yield stack

    report = build_report(counted(), options, event=facts.event, thread_comms=facts.comms,
                          dso_order=facts.dso_order)
    return replace(report, lost=facts.lost, truncated=truncated)


def report_of_stacks(stacks: Iterable[Stack], options: ReportOptions) -> Report:
    """Raw stacks (bpftrace, BCC folded, address lists) as perf report's histogram, each weighed by its count."""
    return build_report(stacks, options, event="stacks")


def report_of_pprof(path: str, options: ReportOptions) -> Report:
    """A pprof profile (ours, or a merged `unwind batch` one) as perf report's histogram, by its periods."""
    from formats.pprof import parse_pprof, read_samples

    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror or exc}") from exc
    return build_report(read_samples(parse_pprof(data, path), path), options, event="pprof")
