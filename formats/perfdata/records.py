"""Non-sample perf.data records (MMAP, MMAP2, COMM, FORK/EXIT, LOST, build-id, attr, feature, compressed).

Records are NamedTuples (typed, immutable, equal by value): a reader makes one per record, where a
frozen dataclass costs several times more to build and ~0.4 ms per class to import.
"""

# No `from __future__ import annotations`: NamedTuple compiles every string annotation (~0.1 ms a class).

import struct
from operator import itemgetter
from typing import TYPE_CHECKING, Callable, NamedTuple, TypeAlias

from ..errors import TruncatedError
from .attr import EventAttr
from .codec import LITTLE, Body, cstring, layout, padded
from .constants import MISC_BUILD_ID_SIZE, MISC_MMAP_BUILD_ID, NAME_ALIGN, PERF_RECORD, PERF_SAMPLE

if TYPE_CHECKING:
    from ..files import View
    from .sample import SampleRecord

HEADER_SIZE = 8


class RecordHeader(NamedTuple):
    """perf_event_header: type, misc, total size (header included)."""

    type: int
    misc: int
    size: int

    @classmethod
    def from_bytes(cls, data: "View", offset: int = 0, endian: str = LITTLE) -> "RecordHeader":
        return cls(*layout(endian, "IHH").unpack_from(data, offset))

    def to_bytes(self, endian: str = LITTLE) -> bytes:
        return layout(endian, "IHH").pack(self.type, self.misc, self.size)


# sample_id trailer fields in the order the kernel writes them: (sample_type bit, struct code, names)
_ID_FIELDS = ((PERF_SAMPLE.TID, "ii", ("pid", "tid")), (PERF_SAMPLE.TIME, "Q", ("time",)),
              (PERF_SAMPLE.ID, "Q", ("id",)), (PERF_SAMPLE.STREAM_ID, "Q", ("stream_id",)),
              (PERF_SAMPLE.CPU, "I4x", ("cpu",)), (PERF_SAMPLE.IDENTIFIER, "Q", ("id",)))


class SampleId(NamedTuple):
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
    def from_bytes(cls, data: Body, offset: int, sample_type: int, endian: str = LITTLE) -> "SampleId":
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


class SampleIdLayout:
    """The sample_id_all trailer of one attr's records compiled to one struct (SampleId.from_bytes, faster)."""

    __slots__ = ("size", "_unpack", "_pick")

    def __init__(self, sample_type: int, endian: str = LITTLE):
        present = [(code, names) for bit, code, names in _ID_FIELDS if sample_type & bit]
        whole = struct.Struct(endian + "".join(code for code, _ in present))
        self.size, self._unpack = whole.size, whole.unpack_from
        names = [name for _, fields in present for name in fields] + [None]
        where = {name: i for i, name in enumerate(names)}      # the last wins: ID and IDENTIFIER are one id
        self._pick = itemgetter(*(where.get(field, len(names) - 1) for field in SampleId._fields))

    def decode(self, data: Body, offset: int) -> SampleId:
        return tuple.__new__(SampleId, self._pick(self._unpack(data, offset) + (None,)))


class MmapRecord(NamedTuple):
    """PERF_RECORD_MMAP: an executable (or, with MMAP_DATA, data) mapping of a file."""

    pid: int
    tid: int
    start: int
    length: int
    pgoff: int
    filename: str
    misc: int = 0
    sample_id: SampleId | None = None

    @property
    def TYPE(self) -> int:
        return PERF_RECORD.MMAP

    @classmethod
    def from_body(cls, body: Body, misc: int, endian: str, sample_id: SampleId | None = None) -> "MmapRecord":
        pid, tid, start, length, pgoff = layout(endian, "iiQQQ").unpack_from(body, 0)
        return cls(pid, tid, start, length, pgoff, cstring(body[32:]), misc, sample_id)

    def body(self, endian: str = LITTLE) -> bytes:
        head = layout(endian, "iiQQQ").pack(self.pid, self.tid, self.start, self.length, self.pgoff)
        return head + padded(self.filename)


class Mmap2Record(NamedTuple):
    """PERF_RECORD_MMAP2: a mapping with device/inode identity, or its build-id (MISC_MMAP_BUILD_ID)."""

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

    @property
    def TYPE(self) -> int:
        return PERF_RECORD.MMAP2

    @classmethod
    def from_body(cls, body: Body, misc: int, endian: str, sample_id: SampleId | None = None) -> "Mmap2Record":
        pid, tid, start, length, pgoff, maj, min_, ino, gen, prot, flags = layout(endian, "iiQQQIIQQII").unpack_from(
            body, 0)
        name = cstring(body[64:])
        if misc & MISC_MMAP_BUILD_ID:       # build_id_size, 3 reserved bytes and the id where maj..gen are
            size = min(body[32], 20)
            return cls(pid, tid, start, length, pgoff, name, build_id=bytes(body[36:36 + size]),
                       prot=prot, flags=flags, misc=misc, sample_id=sample_id)
        return cls(pid, tid, start, length, pgoff, name, maj, min_, ino, gen, None, prot, flags, misc, sample_id)

    def body(self, endian: str = LITTLE) -> bytes:
        head = layout(endian, "iiQQQ").pack(self.pid, self.tid, self.start, self.length, self.pgoff)
        if self.build_id is not None:
            ident = bytes([len(self.build_id), 0, 0, 0]) + self.build_id[:20].ljust(20, b"\0")
        else:
            ident = layout(endian, "IIQQ").pack(self.maj, self.min, self.ino, self.ino_generation)
        return head + ident + layout(endian, "II").pack(self.prot, self.flags) + padded(self.filename)


class CommRecord(NamedTuple):
    """PERF_RECORD_COMM: a thread's name; MISC_COMM_EXEC when it comes from exec()."""

    pid: int
    tid: int
    comm: str
    misc: int = 0
    sample_id: SampleId | None = None

    @property
    def TYPE(self) -> int:
        return PERF_RECORD.COMM

    @classmethod
    def from_body(cls, body: Body, misc: int, endian: str, sample_id: SampleId | None = None) -> "CommRecord":
        pid, tid = layout(endian, "ii").unpack_from(body, 0)
        return cls(pid, tid, cstring(body[8:]), misc, sample_id)

    def body(self, endian: str = LITTLE) -> bytes:
        return layout(endian, "ii").pack(self.pid, self.tid) + padded(self.comm)


class TaskRecord(NamedTuple):
    """PERF_RECORD_FORK or PERF_RECORD_EXIT (same layout): pid/tid and parent pid/tid."""

    kind: int                       # PERF_RECORD.FORK or PERF_RECORD.EXIT
    pid: int
    ppid: int
    tid: int
    ptid: int
    time: int
    misc: int = 0
    sample_id: SampleId | None = None

    @property
    def TYPE(self) -> int:  # FORK or EXIT
        return self.kind

    @classmethod
    def from_body(cls, body: Body, misc: int, endian: str, kind: int = PERF_RECORD.FORK,
                  sample_id: SampleId | None = None) -> "TaskRecord":
        pid, ppid, tid, ptid, time = layout(endian, "iiiiQ").unpack_from(body, 0)
        return cls(kind, pid, ppid, tid, ptid, time, misc, sample_id)

    def body(self, endian: str = LITTLE) -> bytes:
        return layout(endian, "iiiiQ").pack(self.pid, self.ppid, self.tid, self.ptid, self.time)


class LostRecord(NamedTuple):
    """PERF_RECORD_LOST: the kernel dropped `lost` records of event `id`."""

    id: int
    lost: int
    misc: int = 0
    sample_id: SampleId | None = None

    @property
    def TYPE(self) -> int:
        return PERF_RECORD.LOST

    @classmethod
    def from_body(cls, body: Body, misc: int, endian: str, sample_id: SampleId | None = None) -> "LostRecord":
        ident, lost = layout(endian, "QQ").unpack_from(body, 0)
        return cls(ident, lost, misc, sample_id)

    def body(self, endian: str = LITTLE) -> bytes:
        return layout(endian, "QQ").pack(self.id, self.lost)


class BuildIdRecord(NamedTuple):
    """PERF_RECORD_HEADER_BUILD_ID (also the entries of the HEADER_BUILD_ID feature section)."""

    pid: int
    build_id: bytes
    filename: str
    misc: int = 0

    @property
    def TYPE(self) -> int:
        return PERF_RECORD.HEADER_BUILD_ID

    @classmethod
    def from_body(cls, body: "Body | bytearray", misc: int, endian: str) -> "BuildIdRecord":
        (pid,) = layout(endian, "i").unpack_from(body, 0)
        raw = bytes(body[4:28])
        if len(raw) < 24:
            raise TruncatedError("build-id record shorter than its 24-byte id field")
        build_id = raw[:min(raw[20], 20)] if misc & MISC_BUILD_ID_SIZE else raw[:20].rstrip(b"\0")
        return cls(pid, build_id, cstring(body[28:]), misc)

    def body(self, endian: str = LITTLE) -> bytes:
        ident = self.build_id[:20].ljust(20, b"\0") + bytes([len(self.build_id[:20]), 0, 0, 0])
        return layout(endian, "i").pack(self.pid) + ident + padded(self.filename, NAME_ALIGN)


class AttrRecord(NamedTuple):
    """PERF_RECORD_HEADER_ATTR (pipe mode): an event's attr followed by its sample ids."""

    attr: EventAttr
    misc: int = 0

    @property
    def TYPE(self) -> int:
        return PERF_RECORD.HEADER_ATTR

    @classmethod
    def from_body(cls, body: Body, misc: int, endian: str) -> "AttrRecord":
        attr = EventAttr.from_bytes(body, 0, endian)
        if attr.size > len(body):
            raise TruncatedError(f"attr size {attr.size} beyond its record")
        count = (len(body) - attr.size) // 8
        return cls(attr.with_ids(layout(endian, f"{count}Q").unpack_from(body, attr.size)), misc)

    def body(self, endian: str = LITTLE) -> bytes:
        return self.attr.to_bytes(endian) + layout(endian, f"{len(self.attr.ids)}Q").pack(*self.attr.ids)


class FeatureRecord(NamedTuple):
    """PERF_RECORD_HEADER_FEATURE (pipe mode): one header feature section inline."""

    feature: int
    data: bytes
    misc: int = 0

    @property
    def TYPE(self) -> int:
        return PERF_RECORD.HEADER_FEATURE

    @classmethod
    def from_body(cls, body: Body, misc: int, endian: str) -> "FeatureRecord":
        (feature,) = layout(endian, "Q").unpack_from(body, 0)
        return cls(feature, bytes(body[8:]), misc)

    def body(self, endian: str = LITTLE) -> bytes:
        return layout(endian, "Q").pack(self.feature) + self.data


class OtherRecord(NamedTuple):
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


def _fork(body: Body, misc: int, endian: str, sample_id: SampleId | None) -> TaskRecord:
    return TaskRecord.from_body(body, misc, endian, PERF_RECORD.FORK, sample_id)


def _exit(body: Body, misc: int, endian: str, sample_id: SampleId | None) -> TaskRecord:
    return TaskRecord.from_body(body, misc, endian, PERF_RECORD.EXIT, sample_id)


# Every record a reader yields and a writer takes.
NonSampleRecord: TypeAlias = ("MmapRecord | Mmap2Record | CommRecord | TaskRecord | LostRecord | BuildIdRecord "
                              "| AttrRecord | FeatureRecord | OtherRecord")
Record: TypeAlias = "SampleRecord | NonSampleRecord"

# Kernel record types whose body layout we decode, as (body, misc, endian, sample_id) -> record;
# the rest become OtherRecord.
DECODERS: "dict[int, Callable[[Body, int, str, SampleId | None], Record]]" = {
    PERF_RECORD.MMAP: MmapRecord.from_body,
    PERF_RECORD.MMAP2: Mmap2Record.from_body,
    PERF_RECORD.COMM: CommRecord.from_body,
    PERF_RECORD.FORK: _fork,
    PERF_RECORD.EXIT: _exit,
    PERF_RECORD.LOST: LostRecord.from_body,
}
# Kernel record types that carry a sample_id_all trailer (every kernel type but SAMPLE).
KERNEL_TYPES_MAX = 63
