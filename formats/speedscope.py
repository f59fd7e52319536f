"""speedscope's JSON file format: one "sampled" profile per thread over a shared frame table.

Shape (speedscope src/lib/file-format-spec.ts, schema file-format-schema.json): `shared.frames`
holds `{name, file?, line?}` once each; a sampled profile lists each sample as frame indices
root first, with a parallel `weights` array (speedscope drops weight 0 and rejects negatives).
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from .errors import FormatError
from .stack import Frame, Stack, expand

SCHEMA_URL = "https://www.speedscope.app/file-format-schema.json"
UNITS = ("none", "nanoseconds", "microseconds", "milliseconds", "seconds", "bytes")


def frame_record(frame: Frame) -> dict[str, Any]:
    """The shared-frame object of one frame; unnamed frames are shown by address."""
    record: dict[str, Any] = {"name": frame.symbol or f"0x{frame.shown_addr:x}"}
    if frame.file:
        record["file"] = frame.file
    if frame.line:
        record["line"] = frame.line
    return record


def build_speedscope(
    samples: Iterable[Stack], name: str = "unwind", unit: str = "nanoseconds", use_period: bool = True
) -> dict[str, Any]:
    """The speedscope document: weights are periods (in `unit`), or 1 per sample when use_period is false."""
    if unit not in UNITS:
        raise ValueError(f"speedscope unit must be one of {UNITS}")
    frames: list[dict[str, Any]] = []
    index: dict[tuple, int] = {}
    profiles: dict[tuple[int, int], dict[str, Any]] = {}
    for sample in expand(samples):
        stack = []
        for frame in reversed(sample.frames):
            record = frame_record(frame)
            key = (record["name"], record.get("file"), record.get("line"))
            if key not in index:
                index[key] = len(frames)
                frames.append(record)
            stack.append(index[key])
        weight = max(sample.period, 1) if use_period else 1
        owner = (sample.pid or 0, sample.tid or 0)
        profile = profiles.get(owner)
        if profile is None:
            profile = profiles[owner] = {
                "type": "sampled", "name": f"{sample.comm or ''} {owner[0]}/{owner[1]}",
                "unit": unit if use_period else "none", "startValue": 0, "endValue": 0,
                "samples": [], "weights": [],
            }
        profile["samples"].append(stack)
        profile["weights"].append(weight)
        profile["endValue"] += weight
    return {
        "$schema": SCHEMA_URL,
        "shared": {"frames": frames},
        "profiles": list(profiles.values()),
        "name": name,
        "activeProfileIndex": 0,
        "exporter": "unwind",
    }


def write_speedscope(samples: Iterable[Stack], **options: Any) -> str:
    return json.dumps(build_speedscope(samples, **options), separators=(",", ":"), ensure_ascii=False) + "\n"


def parse_speedscope(text: str | bytes, path: str | None = None) -> list[Stack]:
    """Read sampled profiles back into samples (comm/pid/tid from our profile names when present)."""
    try:
        document = json.loads(text)
        frames = [_frame(record) for record in document["shared"]["frames"]]
        samples = []
        for profile in document["profiles"]:
            if profile.get("type") != "sampled":
                raise FormatError(f"profile type {profile.get('type')!r} is not 'sampled'", path)
            comm, pid, tid = _owner(str(profile.get("name", "")))
            stacks, weights = profile["samples"], profile["weights"]
            if not isinstance(stacks, list) or not isinstance(weights, list) or len(stacks) != len(weights):
                raise FormatError("samples and weights differ in length", path)
            for stack, weight in zip(stacks, weights):
                if any(not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < len(frames) for i in stack):
                    raise FormatError("sample names a frame index outside shared.frames", path)
                samples.append(Stack(comm, pid, tid, 0, int(weight), tuple(frames[i] for i in reversed(stack))))
        return samples
    except FormatError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError, RecursionError) as exc:
        raise FormatError(f"not a speedscope sampled profile ({exc.__class__.__name__}: {exc})", path) from exc


def _frame(record: dict[str, Any]) -> Frame:
    name = record["name"]
    if not isinstance(name, str):
        raise TypeError("frame name is not a string")
    line = record.get("line")
    return Frame(addr=0, symbol=name, file=record.get("file"), line=int(line) if line else None)


def _owner(name: str) -> tuple[str, int, int]:
    """`comm pid/tid` as build_speedscope names profiles; anything else keeps the whole name as comm."""
    comm, _, ids = name.rpartition(" ")
    pid, _, tid = ids.partition("/")
    if pid.isdecimal() and tid.isdecimal() and pid.isascii() and tid.isascii():
        return comm, int(pid), int(tid)
    return name, 0, 0
