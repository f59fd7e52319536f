"""Neutral symbolised-sample records that every profile writer (folded, pprof, speedscope, SVG, perf-script) takes."""

from __future__ import annotations

from dataclasses import dataclass, field
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
    # The perf-script writer's line for this frame, made on first print: profiles repeat frame objects.
    _perf_script_line: str | None = field(default=None, init=False, repr=False, compare=False)


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



# format name -> "module:function" of its writer, imported on use (pprof pulls in protobuf).
WRITERS = {
    "perf-script": "perfscript:write_perf_script",
    "folded": "folded:write_folded",
    "pprof": "pprof:write_pprof",
    "speedscope": "speedscope:write_speedscope",
    "svg": "flamegraph:write_flamegraph_samples",
}
OUTPUT_FORMATS = tuple(WRITERS)


def write_profile(samples: Iterable[ProfileSample], fmt: str, **options: object) -> bytes:
    """Render samples in one of OUTPUT_FORMATS."""
    from importlib import import_module

    target = WRITERS.get(fmt)
    if target is None:
        raise ValueError(f"unknown profile format {fmt!r}; expected one of {', '.join(OUTPUT_FORMATS)}")
    module, function = target.split(":")
    result = getattr(import_module(f"{__package__}.{module}"), function)(list(samples), **options)
    return result if isinstance(result, bytes) else result.encode()
