"""pprof profiles (gzipped perftools.profiles.Profile protobuf), encoded by the real protobuf runtime.

The message classes come from a FileDescriptorProto built here field for field after pprof's
proto/profile.proto (proto3, package perftools.profiles), so nothing is generated at build time.
"""

from __future__ import annotations

import gzip
import zlib
from collections import Counter
from typing import Any, Iterable

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from .errors import FormatError
from .stack import Frame, Stack, physical_groups
from .text import valid_text

_T = descriptor_pb2.FieldDescriptorProto
_U64, _I64, _BOOL, _STR, _MSG = _T.TYPE_UINT64, _T.TYPE_INT64, _T.TYPE_BOOL, _T.TYPE_STRING, _T.TYPE_MESSAGE

# message name -> (field name, number, type, repeated, message type) as profile.proto declares them.
_SCHEMA: dict[str, tuple[tuple[str, int, int, bool, str | None], ...]] = {
    "Profile": (
        ("sample_type", 1, _MSG, True, "ValueType"), ("sample", 2, _MSG, True, "Sample"),
        ("mapping", 3, _MSG, True, "Mapping"), ("location", 4, _MSG, True, "Location"),
        ("function", 5, _MSG, True, "Function"), ("string_table", 6, _STR, True, None),
        ("drop_frames", 7, _I64, False, None), ("keep_frames", 8, _I64, False, None),
        ("time_nanos", 9, _I64, False, None), ("duration_nanos", 10, _I64, False, None),
        ("period_type", 11, _MSG, False, "ValueType"), ("period", 12, _I64, False, None),
        ("comment", 13, _I64, True, None), ("default_sample_type", 14, _I64, False, None),
        ("doc_url", 15, _I64, False, None),
    ),
    "ValueType": (("type", 1, _I64, False, None), ("unit", 2, _I64, False, None)),
    "Sample": (
        ("location_id", 1, _U64, True, None), ("value", 2, _I64, True, None), ("label", 3, _MSG, True, "Label"),
    ),
    "Label": (
        ("key", 1, _I64, False, None), ("str", 2, _I64, False, None),
        ("num", 3, _I64, False, None), ("num_unit", 4, _I64, False, None),
    ),
    "Mapping": (
        ("id", 1, _U64, False, None), ("memory_start", 2, _U64, False, None), ("memory_limit", 3, _U64, False, None),
        ("file_offset", 4, _U64, False, None), ("filename", 5, _I64, False, None), ("build_id", 6, _I64, False, None),
        ("has_functions", 7, _BOOL, False, None), ("has_filenames", 8, _BOOL, False, None),
        ("has_line_numbers", 9, _BOOL, False, None), ("has_inline_frames", 10, _BOOL, False, None),
    ),
    "Location": (
        ("id", 1, _U64, False, None), ("mapping_id", 2, _U64, False, None), ("address", 3, _U64, False, None),
        ("line", 4, _MSG, True, "Line"), ("is_folded", 5, _BOOL, False, None),
    ),
    "Line": (("function_id", 1, _U64, False, None), ("line", 2, _I64, False, None), ("column", 3, _I64, False, None)),
    "Function": (
        ("id", 1, _U64, False, None), ("name", 2, _I64, False, None), ("system_name", 3, _I64, False, None),
        ("filename", 4, _I64, False, None), ("start_line", 5, _I64, False, None),
    ),
}


def profile_class() -> Any:
    """The perftools.profiles.Profile message class, built from the descriptor above in a pool of its own
    (about 1 ms: each profile written or read builds it; nothing is kept between calls)."""
    proto = descriptor_pb2.FileDescriptorProto(name="unwind/profile.proto", package="perftools.profiles",
                                               syntax="proto3")
    for message, fields in _SCHEMA.items():
        desc = proto.message_type.add(name=message)
        for name, number, kind, repeated, type_name in fields:
            field = desc.field.add(name=name, number=number, type=kind)
            field.label = _T.LABEL_REPEATED if repeated else _T.LABEL_OPTIONAL
            if type_name:
                field.type_name = f".perftools.profiles.{type_name}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("perftools.profiles.Profile"))


class _Strings:
    """The string table: "" at index 0, each string once."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {"": 0}

    def __call__(self, text: str | None) -> int:
        if not text:
            return 0
        return self.index.setdefault(valid_text(text), len(self.index))


def build_profile(
    samples: Iterable[Stack],
    sample_types: tuple[tuple[str, str], ...] = (("samples", "count"), ("cpu", "nanoseconds")),
) -> Any:
    """A Profile message: values [count, period x count] per stack, one Location per physical address, inline
    Lines innermost first."""
    profile = profile_class()()
    strings = _Strings()
    for kind, unit in sample_types:
        profile.sample_type.add(type=strings(kind), unit=strings(unit))
    functions: dict[tuple[str, str | None], int] = {}
    locations: dict[tuple[int, str | None, tuple[tuple[str | None, str | None, int | None], ...]], int] = {}
    modules: dict[str | None, list[Frame]] = {}
    periods: Counter[int] = Counter()
    times: list[int] = []
    pending: list[tuple[Stack, list[int]]] = []
    for sample in samples:
        ids = []
        for group in physical_groups(sample.frames):
            outer = group[-1]
            key = (outer.shown_addr, outer.module, tuple((f.symbol, f.file, f.line) for f in group))
            if key not in locations:
                locations[key] = len(locations) + 1
                modules.setdefault(outer.module, []).append(outer)
                location = profile.location.add(id=locations[key], address=outer.shown_addr)
                location.mapping_id = 0  # filled in once every mapping is known
                for frame in group:
                    fkey = (frame.symbol or f"0x{frame.shown_addr:x}", frame.file)
                    if fkey not in functions:
                        functions[fkey] = len(functions) + 1
                        profile.function.add(id=functions[fkey], name=strings(fkey[0]),
                                             system_name=strings(fkey[0]), filename=strings(frame.file))
                    location.line.add(function_id=functions[fkey], line=frame.line or 0)
            ids.append(locations[key])
        pending.append((sample, ids))
        periods[sample.period] += max(sample.count, 1)
        times.append(sample.time)
    mapping_ids = _add_mappings(profile, modules, strings)
    for key, location in zip(locations, profile.location):
        location.mapping_id = mapping_ids.get(key[1], 0)
    for sample, ids in pending:
        count = max(sample.count, 1)  # a raw stack seen `count` times is one sample of that weight
        values = [count, sample.period * count][: len(sample_types)] + [0] * (len(sample_types) - 2)
        entry = profile.sample.add(location_id=ids, value=values)
        entry.label.add(key=strings("pid"), num=sample.pid or 0)
        entry.label.add(key=strings("tid"), num=sample.tid or 0)
        if sample.comm:
            entry.label.add(key=strings("comm"), str=strings(sample.comm))
    if len(sample_types) > 1:
        profile.period_type.type = profile.sample_type[-1].type
        profile.period_type.unit = profile.sample_type[-1].unit
        profile.period = periods.most_common(1)[0][0] if periods else 0
    if times:
        profile.time_nanos = min(times)
        profile.duration_nanos = max(times) - min(times)
    profile.string_table.extend(strings.index)
    return profile


def _add_mappings(profile: Any, modules: dict[str | None, list[Frame]], strings: _Strings) -> dict[str | None, int]:
    """One Mapping per module spanning the addresses seen; file_offset makes address -> offset exact when known."""
    ids: dict[str | None, int] = {}
    for module, frames in modules.items():
        if module is None:
            continue
        low = min(frames, key=lambda f: f.shown_addr)
        high = max(f.shown_addr for f in frames)
        ids[module] = len(ids) + 1
        has_lines = any(f.line for f in frames)
        profile.mapping.add(
            id=ids[module], memory_start=low.shown_addr, memory_limit=min(high + 1, 2**64 - 1),
            file_offset=low.map_offset or 0,
            filename=strings(module), build_id=strings(next((f.build_id for f in frames if f.build_id), None)),
            has_functions=any(f.symbol for f in frames), has_filenames=any(f.file for f in frames),
            has_line_numbers=has_lines, has_inline_frames=has_lines,
        )
    return ids


def write_pprof(samples: Iterable[Stack], **options: Any) -> bytes:
    """The gzipped profile bytes (mtime 0, so equal input gives equal bytes)."""
    return gzip.compress(build_profile(samples, **options).SerializeToString(), mtime=0)


def parse_pprof(data: bytes, path: str | None = None) -> Any:
    """Decode (optionally gzipped) profile bytes into the Profile message."""
    try:
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        profile = profile_class()()
        profile.ParseFromString(data)
    except (OSError, EOFError, zlib.error, DecodeError) as exc:  # gzip's (BadGzipFile is an OSError), protobuf's
        raise FormatError(f"not a pprof profile ({exc})", path) from exc
    if profile.string_table and profile.string_table[0] != "":
        raise FormatError("string table does not start with the empty string", path)
    return profile


def read_samples(profile: Any, path: str | None = None) -> list[Stack]:
    """Turn a Profile back into samples (values[-1] as the period, labels pid/tid/comm)."""
    table: list[str] = list(profile.string_table)

    def text(index: int) -> str:
        if not 0 <= index < len(table):
            raise FormatError(f"string index {index} out of range", path)
        return table[index]

    functions = {f.id: f for f in profile.function}
    mappings = {m.id: m for m in profile.mapping}
    locations = {}
    for location in profile.location:
        mapping = mappings.get(location.mapping_id)
        module = text(mapping.filename) if mapping else None
        frames = []
        for n, line in enumerate(location.line):
            function = functions.get(line.function_id)
            if function is None:
                raise FormatError(f"location {location.id} names unknown function {line.function_id}", path)
            frames.append(Frame(
                addr=location.address, symbol=text(function.name) or None, module=module,
                file=text(function.filename) or None, line=line.line or None,
                inlined=n < len(location.line) - 1,
            ))
        locations[location.id] = frames or [Frame(addr=location.address, module=module)]
    samples = []
    for sample in profile.sample:
        numbers = {text(label.key): label.num for label in sample.label if not label.str}
        words = {text(label.key): text(label.str) for label in sample.label if label.str}
        frames = []
        for location_id in sample.location_id:
            if location_id not in locations:
                raise FormatError(f"sample names unknown location {location_id}", path)
            frames.extend(locations[location_id])
        samples.append(Stack(
            comm=words.get("comm", ""), pid=numbers.get("pid", 0), tid=numbers.get("tid", 0),
            time=0, period=sample.value[-1] if sample.value else 0, frames=tuple(frames),
        ))
    return samples
