"""Neutral symbolised-sample records that every profile writer (folded, pprof, speedscope, SVG, perf-script) takes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator


@dataclass(frozen=True, slots=True)
class ProfileFrame:
    """One frame of a symbolised stack; inline frames of one address share `address`, innermost first.

    `address` is absolute; `offset` is the module-relative address perf prints (ip - map start + pgoff),
    None when unknown. `inlined` marks every frame of an inline chain except the outermost one.
    """

    address: int
    symbol: str | None = None
    module: str | None = None
    file: str | None = None
    line: int | None = None
    inlined: bool = False
    kernel: bool = False
    offset: int | None = None
    build_id: str | None = None


@dataclass(frozen=True, slots=True)
class ProfileSample:
    """One sample: who, when, weight, and its frames leaf first."""

    comm: str
    pid: int
    tid: int
    time_ns: int
    period: int
    frames: tuple[ProfileFrame, ...]


def physical_groups(frames: Iterable[ProfileFrame]) -> Iterator[tuple[ProfileFrame, ...]]:
    """Group a leaf-first frame list into one tuple per physical address (inline chain, innermost first)."""
    group: list[ProfileFrame] = []
    for frame in frames:
        if group and not (group[-1].inlined and group[-1].address == frame.address):
            yield tuple(group)
            group = []
        group.append(frame)
    if group:
        yield tuple(group)



OUTPUT_FORMATS = ("perf-script", "folded", "pprof", "speedscope", "svg")


def write_profile(samples: Iterable[ProfileSample], fmt: str, **options: object) -> bytes:
    """Render samples in one of OUTPUT_FORMATS (the writers live in their own modules, imported on use)."""
    samples = list(samples)
    if fmt == "perf-script":
        from .perfscript import write_perf_script
        return write_perf_script(samples, **options).encode()
    if fmt == "folded":
        from .folded import write_folded
        return write_folded(samples, **options).encode()
    if fmt == "pprof":
        from .pprof import write_pprof
        return write_pprof(samples, **options)
    if fmt == "speedscope":
        from .speedscope import write_speedscope
        return write_speedscope(samples, **options).encode()
    if fmt == "svg":
        from .flamegraph import write_flamegraph_samples
        return write_flamegraph_samples(samples, **options).encode()
    raise ValueError(f"unknown profile format {fmt!r}; expected one of {', '.join(OUTPUT_FORMATS)}")
