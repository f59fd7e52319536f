"""A merged profile of many inputs written in one format: each entry is an input's label, one distinct
symbolised stack and how many samples had it.

Per-input labels are kept where the format has a place for them: pprof sample labels `host` and
`file`, one speedscope profile per input, a `file`/`host` key per JSON line. Folded text and the
flame graph sum identical stacks over every input, exactly as the single-file writers count them.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, Iterable, NamedTuple, TypedDict

from .errors import FormatError
from .stack import Stack

if TYPE_CHECKING:
    from .speedscope import DocumentJson, SharedFrameJson, ProfileJson

    class LineFrameJson(TypedDict):
        addr: str
        module: str | None
        symbol: str | None
        file: str | None
        line: int | None
        inlined: bool

    class LineJson(TypedDict):
        """One line of the merged JSON output: a stack, the recording it came from, its weight."""

        file: str
        host: str | None
        comm: str | None
        pid: int | None
        tid: int | None
        period: int
        count: int
        frames: list[LineFrameJson]

FORMATS = ("folded", "pprof", "speedscope", "svg", "json")


class Entry(NamedTuple):
    """One distinct stack of one input and its weight (samples)."""

    file: str
    host: str | None
    sample: Stack
    weight: int


def write_merged(entries: Iterable[Entry], fmt: str) -> bytes:
    """The merged profile's bytes in `fmt` (one of FORMATS)."""
    entries = list(entries)
    if fmt in ("folded", "svg"):
        counts = folded_counts(entries)
        if fmt == "folded":
            from .folded import format_folded

            return format_folded(counts).encode()
        from .flamegraph import write_flamegraph

        return write_flamegraph(counts).encode()
    if fmt == "pprof":
        return _pprof(entries)
    if fmt == "speedscope":
        return (json.dumps(_speedscope(entries), separators=(",", ":"), ensure_ascii=False) + "\n").encode()
    if fmt == "json":
        return "".join(json.dumps(_json(e), separators=(",", ":")) + "\n" for e in entries).encode()
    raise FormatError(f"unknown merged profile format {fmt!r}; expected one of {', '.join(FORMATS)}")


def folded_counts(entries: Iterable[Entry]) -> Counter[str]:
    """Folded line -> samples over every entry (each stack folded as the single-file writer folds it)."""
    from .folded import fold

    counts: Counter[str] = Counter()
    for entry in entries:
        for line, n in fold([entry.sample]).items():
            counts[line] += n * entry.weight
    return counts


def _pprof(entries: list[Entry]) -> bytes:
    """One pprof sample per entry: values [samples, samples x period], labels pid/tid/comm/host/file."""
    import gzip

    from .pprof import build_profile

    profile = build_profile([e.sample for e in entries])
    strings = {text: i for i, text in enumerate(profile.string_table)}

    def string(text: str) -> int:
        if text not in strings:
            strings[text] = len(strings)
            profile.string_table.append(text)
        return strings[text]

    for entry, sample in zip(entries, profile.sample):
        period = entry.sample.period
        sample.value[:] = [entry.weight, entry.weight * period][: len(sample.value)]
        if entry.host:
            sample.label.add(key=string("host"), str=string(entry.host))
        sample.label.add(key=string("file"), str=string(entry.file))
    return gzip.compress(profile.SerializeToString(), mtime=0)


def _speedscope(entries: list[Entry]) -> DocumentJson:
    """One sampled profile per input over one shared frame table; a stack's weight is samples x period."""
    from .speedscope import SCHEMA_URL, FrameKey, frame_indices

    frames: list[SharedFrameJson] = []
    index: dict[FrameKey, int] = {}
    profiles: dict[str, ProfileJson] = {}
    for entry in entries:
        stack = frame_indices(entry.sample.frames, frames, index)
        profile = profiles.get(entry.file)
        if profile is None:
            name = f"{entry.host}:{entry.file}" if entry.host else entry.file
            profile = profiles[entry.file] = {"type": "sampled", "name": name, "unit": "nanoseconds",
                                              "startValue": 0, "endValue": 0, "samples": [], "weights": []}
        weight = max(entry.sample.period, 1) * entry.weight
        profile["samples"].append(stack)
        profile["weights"].append(weight)
        profile["endValue"] += weight
    return {"$schema": SCHEMA_URL, "shared": {"frames": frames}, "profiles": list(profiles.values()),
            "name": "unwind batch", "activeProfileIndex": 0, "exporter": "unwind"}


def _json(entry: Entry) -> LineJson:
    s = entry.sample
    return {"file": entry.file, "host": entry.host, "comm": s.comm, "pid": s.pid, "tid": s.tid,
            "period": s.period, "count": entry.weight,
            "frames": [{"addr": f"{f.shown_addr:#x}", "module": f.module, "symbol": f.symbol, "file": f.file,
                        "line": f.line, "inlined": f.inlined} for f in s.frames]}
