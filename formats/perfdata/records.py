"""Non-sample perf.data records (MMAP, MMAP2, COMM, FORK/EXIT, LOST, build-id, attr, feature, compressed)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .attr import EventAttr
from .codec import LITTLE, cstring, layout, padded
from .constants import MISC_BUILD_ID_SIZE, MISC_MMAP_BUILD_ID, NAME_ALIGN, RecordType, SampleType

HEADER_SIZE = 8


@dataclass(frozen=True, slots=True)
class RecordHeader:
    """perf_event_header: type, misc, total size (header included)."""

    type: int
    misc: int
    size: int

    @classmethod
    def from_bytes(cls, data, offset: int = 0, endian: str = LITTLE) -> "RecordHeader":
        return cls(*layout(endian, "IHH").unpack_from(data, offset))

    def to_bytes(self, endian: str = LITTLE) -> bytes:
        return layout(endian, "IHH").pack(self.type, self.misc, self.size)


_ID_FIELDS = ((SampleType.TID, "ii", ("pid", "tid")), (SampleType.TIME, "Q", ("time",)),
              (SampleType.ID, "Q", ("id",)), (SampleType.STREAM_ID, "Q", ("stream_id",)),
              (SampleType.CPU, "I4x", ("cpu",)), (SampleType.IDENTIFIER, "Q", ("id",)))


@dataclass(frozen=True, slots=True)
class SampleId:
    """The sample_id_all trailer of a non-sample record; fields absent from sample_type are None."""

    pid: int | None = None
    tid: int | None = None
    time: int | None = None
    id: int | None = None
    stream_id: int | None = None
    cpu: int | None = None

    @staticmethod
    def size_for(sample_type: int) -> int:
        return sum(8 for bit, _, _ in _ID_FIELDS if sample_type & bit)

    @classmethod
    def from_bytes(cls, data, offset: int, sample_type: int, endian: str = LITTLE) -> "SampleId":
        values: dict[str, int] = {}
        for bit, code, names in _ID_FIELDS:
            if sample_type & bit:
                values.update(zip(names, layout(endian, code).unpack_from(data, offset)))
                offset += 8
        return cls(**values)

    def to_bytes(self, sample_type: int, endian: str = LITTLE) -> bytes:
        out = b""
        for bit, code, names in _ID_FIELDS:
            if sample_type & bit:
                out += layout(endian, code).pack(*(getattr(self, n) or 0 for n in names))
        return out


@dataclass(frozen=True, slots=True)
class MmapRecord:
    """PERF_RECORD_MMAP: an executable (or, with MMAP_DATA, data) mapping of a file."""

    TYPE: ClassVar[int] = RecordType.MMAP
    pid: int
    tid: int
    start: int
    length: int
    pgoff: int
    filename: str
    misc: int = 0
    sample_id: SampleId | None = None

    @classmethod
    def from_body(cls, body, misc: int, endian: str) -> "MmapRecord":
        pid, tid, start, length, pgoff = layout(endian, "iiQQQ").unpack_from(body, 0)
        return cls(pid, tid, start, length, pgoff, cstring(body[32:]), misc)

    def body(self, endian: str = LITTLE) -> bytes:
        return layout(endian, "iiQQQ").pack(self.pid, self.tid, self.start, self.length, self.pgoff) + padded(self.filename)


@dataclass(frozen=True, slots=True)
class Mmap2Record:
    """PERF_RECORD_MMAP2: a mapping with device/inode identity, or its build-id (MISC_MMAP_BUILD_ID)."""

    TYPE: ClassVar[int] = RecordType.MMAP2
    pid: int
    tid: int
    start: int
    length: int
    pgoff: int
    filename: str
    maj: int = 0
    min: int = 0
    ino: int = 0
    ino_generation: int = 0
    build_id: bytes | None = None
    prot: int = 5                   # PROT_READ | PROT_EXEC
    flags: int = 2                  # MAP_PRIVATE
    misc: int = 0
    sample_id: SampleId | None = None

    @classmethod
    def from_body(cls, body, misc: int, endian: str) -> "Mmap2Record":
        pid, tid, start, length, pgoff = layout(endian, "iiQQQ").unpack_from(body, 0)
        prot, flags = layout(endian, "II").unpack_from(body, 56)
        name = cstring(body[64:])
        if misc & MISC_MMAP_BUILD_ID:
            size = min(body[32], 20)
            return cls(pid, tid, start, length, pgoff, name, build_id=bytes(body[36:36 + size]),
                       prot=prot, flags=flags, misc=misc)
        maj, min_, ino, gen = layout(endian, "IIQQ").unpack_from(body, 32)
        return cls(pid, tid, start, length, pgoff, name, maj, min_, ino, gen, None, prot, flags, misc)

    def body(self, endian: str = LITTLE) -> bytes:
        head = layout(endian, "iiQQQ").pack(self.pid, self.tid, self.start, self.length, self.pgoff)
        if self.build_id is not None:
            ident = bytes([len(self.build_id), 0, 0, 0]) + self.build_id[:20].ljust(20, b"\0")
        else:
            ident = layout(endian, "IIQQ").pack(self.maj, self.min, self.ino, self.ino_generation)
        return head + ident + layout(endian, "II").pack(self.prot, self.flags) + padded(self.filename)


@dataclass(frozen=True, slots=True)
class CommRecord:
    """PERF_RECORD_COMM: a thread's name; MISC_COMM_EXEC when it comes from exec()."""

    TYPE: ClassVar[int] = RecordType.COMM
    pid: int
    tid: int
    comm: str
    misc: int = 0
    sample_id: SampleId | None = None

    @classmethod
    def from_body(cls, body, misc: int, endian: str) -> "CommRecord":
        pid, tid = layout(endian, "ii").unpack_from(body, 0)
        return cls(pid, tid, cstring(body[8:]), misc)

    def body(self, endian: str = LITTLE) -> bytes:
        return layout(endian, "ii").pack(self.pid, self.tid) + padded(self.comm)


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """PERF_RECORD_FORK or PERF_RECORD_EXIT (same layout): pid/tid and parent pid/tid."""

    TYPE: ClassVar[int] = RecordType.FORK
    kind: int                       # RecordType.FORK or RecordType.EXIT
    pid: int
    ppid: int
    tid: int
    ptid: int
    time: int
    misc: int = 0
    sample_id: SampleId | None = None

    @classmethod
    def from_body(cls, body, misc: int, endian: str, kind: int = RecordType.FORK) -> "TaskRecord":
        return cls(kind, *layout(endian, "iiiiQ").unpack_from(body, 0), misc)

    def body(self, endian: str = LITTLE) -> bytes:
        return layout(endian, "iiiiQ").pack(self.pid, self.ppid, self.tid, self.ptid, self.time)


@dataclass(frozen=True, slots=True)
class LostRecord:
    """PERF_RECORD_LOST: the kernel dropped `lost` records of event `id`."""

    TYPE: ClassVar[int] = RecordType.LOST
    id: int
    lost: int
    misc: int = 0
    sample_id: SampleId | None = None

    @classmethod
    def from_body(cls, body, misc: int, endian: str) -> "LostRecord":
        return cls(*layout(endian, "QQ").unpack_from(body, 0), misc)

    def body(self, endian: str = LITTLE) -> bytes:
        return layout(endian, "QQ").pack(self.id, self.lost)


@dataclass(frozen=True, slots=True)
class BuildIdRecord:
    """PERF_RECORD_HEADER_BUILD_ID (also the entries of the HEADER_BUILD_ID feature section)."""

    TYPE: ClassVar[int] = RecordType.HEADER_BUILD_ID
    pid: int
    build_id: bytes
    filename: str
    misc: int = 0

    @classmethod
    def from_body(cls, body, misc: int, endian: str) -> "BuildIdRecord":
        (pid,) = layout(endian, "i").unpack_from(body, 0)
        raw = bytes(body[4:28])
        if len(raw) < 24:
            raise ValueError("build-id record shorter than its 24-byte id field")
        build_id = raw[:min(raw[20], 20)] if misc & MISC_BUILD_ID_SIZE else raw[:20].rstrip(b"\0")
        return cls(pid, build_id, cstring(body[28:]), misc)

    def body(self, endian: str = LITTLE) -> bytes:
        ident = self.build_id[:20].ljust(20, b"\0") + bytes([len(self.build_id[:20]), 0, 0, 0])
        return layout(endian, "i").pack(self.pid) + ident + padded(self.filename, NAME_ALIGN)


@dataclass(frozen=True, slots=True)
class AttrRecord:
    """PERF_RECORD_HEADER_ATTR (pipe mode): an event's attr followed by its sample ids."""

    TYPE: ClassVar[int] = RecordType.HEADER_ATTR
    attr: EventAttr
    misc: int = 0

    @classmethod
    def from_body(cls, body, misc: int, endian: str) -> "AttrRecord":
        attr = EventAttr.from_bytes(body, 0, endian)
        if attr.size > len(body):
            raise ValueError(f"attr size {attr.size} beyond its record")
        count = (len(body) - attr.size) // 8
        return cls(attr.with_ids(layout(endian, f"{count}Q").unpack_from(body, attr.size)), misc)

    def body(self, endian: str = LITTLE) -> bytes:
        return self.attr.to_bytes(endian) + layout(endian, f"{len(self.attr.ids)}Q").pack(*self.attr.ids)


@dataclass(frozen=True, slots=True)
class FeatureRecord:
    """PERF_RECORD_HEADER_FEATURE (pipe mode): one header feature section inline."""

    TYPE: ClassVar[int] = RecordType.HEADER_FEATURE
    feature: int
    data: bytes
    misc: int = 0

    @classmethod
    def from_body(cls, body, misc: int, endian: str) -> "FeatureRecord":
        (feature,) = layout(endian, "Q").unpack_from(body, 0)
        return cls(feature, bytes(body[8:]), misc)

    def body(self, endian: str = LITTLE) -> bytes:
        return layout(endian, "Q").pack(self.feature) + self.data


@dataclass(frozen=True, slots=True)
class OtherRecord:
    """Any record we keep as raw bytes (FINISHED_ROUND, THROTTLE, ID_INDEX, unknown types...)."""

    type: int
    payload: bytes
    misc: int = 0
    sample_id: SampleId | None = None

    @property
    def TYPE(self) -> int:
        return self.type

    def body(self, endian: str = LITTLE) -> bytes:
        return self.payload


# Record types whose body layout we decode; the rest become OtherRecord.
DECODERS = {
    RecordType.MMAP: MmapRecord.from_body,
    RecordType.MMAP2: Mmap2Record.from_body,
    RecordType.COMM: CommRecord.from_body,
    RecordType.FORK: lambda b, m, e: TaskRecord.from_body(b, m, e, RecordType.FORK),
    RecordType.EXIT: lambda b, m, e: TaskRecord.from_body(b, m, e, RecordType.EXIT),
    RecordType.LOST: LostRecord.from_body,
}
# Kernel record types that carry a sample_id_all trailer (every kernel type but SAMPLE).
KERNEL_TYPES_MAX = 63
