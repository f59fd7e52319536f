"""Walked threads as `eu-stack` prints them, and as the `{"threads": [...]}` JSON of `unwind core`/`unwind pid`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from .demangle import demangle_cxa
from .model import Sample, Trace

ThreadDict = dict[str, Any]


def describe_threads(walked: Iterable[tuple[Sample, Trace]], namer: Any, inlines: bool = False,
                     debug_info: bool = True) -> list[ThreadDict]:
    """{"tid", "frames": [JSON frame dicts], "stop"} per thread; `namer` is a core.FrameNamer.
    `debug_info=False` names frames from the ELF symbol tables only, as eu-stack does."""
    threads = []
    for sample, trace in walked:
        frames: list[dict[str, Any]] = []
        for frame in trace.frames:
            frames.extend(namer.describe(frame, sample.modules, inlines, debug_info=debug_info))
        threads.append({"tid": sample.tid, "frames": frames, "stop": str(trace.stop)})
    return threads


def eu_stack_lines(pid: int, kind: str, threads: Sequence[ThreadDict], raw: bool = False) -> Iterator[str]:
    """`PID N - process` (or `- core`), then per thread `TID n:` and `#i  0x%016x name` lines, demangled
    with __cxa_demangle as eu-stack does unless `raw` (eu-stack -r)."""
    yield f"PID {pid} - {kind}\n"
    for thread in threads:
        yield f"TID {thread['tid']}:\n"
        for i, frame in enumerate(thread["frames"]):
            symbol = frame["symbol"]
            name = f" {symbol if raw else demangle_cxa(symbol)}" if symbol else ""
            yield f"#{i:<2d} 0x{int(frame['addr'], 16):016x}{name}\n"


__all__ = ["describe_threads", "eu_stack_lines"]
