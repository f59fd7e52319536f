"""Walked threads as `eu-stack` prints them; the `{"threads": [...]}` JSON of `unwind core`/`unwind pid`
is formats.stack.write_threads_json."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from formats.stack import Stack

from .demangle import Demangler
from .model import Sample, Trace

if TYPE_CHECKING:
    from .core import FrameNamer


def describe_threads(walked: Iterable[tuple[Sample, Trace]], namer: FrameNamer, inlines: bool = False,
                     debug_info: bool = True) -> list[Stack]:
    """One Stack per walked thread (pid, tid, comm, symbolised frames, stop). `debug_info=False`
    names frames from the ELF symbol tables only, as eu-stack does."""
    threads = []
    for sample, trace in walked:
        frames = [f for frame in trace.frames
                  for f in namer.describe(frame, sample.modules, inlines, debug_info=debug_info)]
        threads.append(Stack(sample.comm, sample.pid, sample.tid, 0, 1, tuple(frames), trace.stop))
    return threads


def eu_stack_lines(pid: int | None, kind: str, threads: Sequence[Stack], raw: bool = False,
                   demangler: Demangler | None = None) -> Iterator[str]:
    """`PID N - process` (or `- core`), then per thread `TID n:` and `#i  0x%016x name` lines, demangled
    with __cxa_demangle as eu-stack does unless `raw` (eu-stack -r); `demangler` is the caller's (a
    Session's `demangler`), else one made for this call."""
    demangle_cxa = (demangler if demangler is not None else Demangler()).cxa
    yield f"PID {pid} - {kind}\n"
    for thread in threads:
        yield f"TID {thread.tid}:\n"
        for i, frame in enumerate(thread.frames):
            symbol = frame.symbol
            name = f" {symbol if raw else demangle_cxa(symbol)}" if symbol else ""
            yield f"#{i:<2d} 0x{frame.addr:016x}{name}\n"


__all__ = ["describe_threads", "eu_stack_lines"]
