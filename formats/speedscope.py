"""speedscope's JSON file format: one "sampled" profile per thread over a shared frame table.

Shape (speedscope src/lib/file-format-spec.ts, schema file-format-schema.json): `shared.frames`
holds `{name, file?, line?}` once each; a sampled profile lists each sample as frame indices
root first, with a parallel `weights` array (speedscope drops weight 0 and rejects negatives).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Iterable, Literal, NotRequired, TypedDict

from .errors import FormatError
from .stack import Frame, Stack

if TYPE_CHECKING:
    class SharedFrameJson(TypedDict):
        """A shared frame."""

        name: str
        file: NotRequired[str]
        line: NotRequired[int]

    class SharedJson(TypedDict):
        frames: list[SharedFrameJson]

    class ProfileJson(TypedDict):
        """A sampled profile: frame indices root first per sample, a weight each."""

        type: Literal["sampled"]
        name: str
        unit: str
        startValue: int
        endValue: int
        samples: list[list[int]]
        weights: list[int]

    # "$schema" is no identifier: the functional form.
    DocumentJson = TypedDict("DocumentJson", {"$schema": str, "shared": SharedJson, "profiles": list[ProfileJson],
                                              "name": str, "activeProfileIndex": int, "exporter": str})

SCHEMA_URL = "https://www.speedscope.app/file-format-schema.json"
UNITS = ("none", "nanoseconds", "microseconds", "milliseconds", "seconds", "bytes")


def frame_record(frame: Frame) -> SharedFrameJson:
    """The shared-frame object of one frame; unnamed frames are shown by address."""
    record: SharedFrameJson = {"name": frame.symbol or f"0x{frame.shown_addr:x}"}
    if frame.file:
        record["file"] = frame.file
    if frame.line:
        record["line"] = frame.line
    return record


FrameKey = tuple[str, str | None, int | None]  # (name, file, line) of a shared frame


def frame_indices(leaf_first: Iterable[Frame], frames: list[SharedFrameJson],
                  index: dict[FrameKey, int]) -> list[int]:
    """A stack as indices into the shared frame table (root first, as speedscope wants), adding the
    frames not yet in `frames`; `index` maps (name, file, line) to a frame's index."""
    stack = []
    for frame in reversed(tuple(leaf_first)):
        record = frame_record(frame)
        key: FrameKey = (record["name"], record.get("file"), record.get("line"))
        if key not in index:
            index[key] = len(frames)
            frames.append(record)
        stack.append(index[key])
    return stack


def build_speedscope(
    samples: Iterable[Stack], name: str = "unwind", unit: str = "nanoseconds", use_period: bool = True
) -> DocumentJson:
    """The speedscope document: weights are periods (in `unit`), or 1 per sample when use_period is false."""
    if unit not in UNITS:
        raise ValueError(f"speedscope unit must be one of {UNITS}")
    frames: list[SharedFrameJson] = []
    index: dict[FrameKey, int] = {}
    profiles: dict[tuple[int, int], ProfileJson] = {}
    for sample in samples:
        stack = frame_indices(sample.frames, frames, index)
        weight = (max(sample.period, 1) if use_period else 1) * max(sample.count, 1)  # a raw stack's count weighs
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
    except UnicodeDecodeError:
        raise FormatError("not a speedscope profile (not UTF-8)", path) from None
    except json.JSONDecodeError as exc:
        raise FormatError(f"not a speedscope profile ({exc.msg} at {exc.pos})", path) from None
    except RecursionError:  # nesting deeper than the interpreter's stack: not a profile we wrote
        raise FormatError("not a speedscope profile (nested too deeply)", path) from None
    shared = _field(document, "shared", dict, path)
    frames = [_frame(record, path) for record in _field(shared, "frames", list, path)]
    samples = []
    for profile in _field(document, "profiles", list, path):
        if not isinstance(profile, dict) or profile.get("type") != "sampled":
            raise FormatError("a profile is not of type 'sampled'", path)
        comm, pid, tid = _owner(str(profile.get("name", "")))
        stacks, weights = _field(profile, "samples", list, path), _field(profile, "weights", list, path)
        if len(stacks) != len(weights):
            raise FormatError("samples and weights differ in length", path)
        for stack, weight in zip(stacks, weights):
            if not isinstance(stack, list) or any(not _index(i, len(frames)) for i in stack):
                raise FormatError("sample names a frame index outside shared.frames", path)
            if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not 0 <= weight < 1 << 63:
                raise FormatError(f"weight {weight!r} is not a non-negative number", path)
            samples.append(Stack(comm, pid, tid, 0, int(weight), tuple(frames[i] for i in reversed(stack))))
    return samples


def _field(container: object, name: str, kind: type, path: str | None) -> Any:
    """container[name], which must be a `kind`."""
    value = container.get(name) if isinstance(container, dict) else None
    if not isinstance(value, kind):
        raise FormatError(f"{name!r} is missing or not a {kind.__name__}", path)
    return value


def _index(value: object, size: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < size


def _frame(record: object, path: str | None) -> Frame:
    if not isinstance(record, dict) or not isinstance(record.get("name"), str):
        raise FormatError("a shared frame has no string name", path)
    file, line = record.get("file"), record.get("line")
    if file is not None and not isinstance(file, str):
        raise FormatError("a shared frame's file is not a string", path)
    if line is not None and (not isinstance(line, int) or isinstance(line, bool) or not 0 <= line < 1 << 32):
        raise FormatError("a shared frame's line is not a line number", path)
    return Frame(addr=0, symbol=record["name"], file=file, line=line or None)


def _owner(name: str) -> tuple[str, int, int]:
    """`comm pid/tid` as build_speedscope names profiles; anything else keeps the whole name as comm."""
    comm, _, ids = name.rpartition(" ")
    pid, _, tid = ids.partition("/")
    if pid.isdecimal() and tid.isdecimal() and pid.isascii() and tid.isascii():
        return comm, int(pid), int(tid)
    return name, 0, 0
