"""Read a perf.data file or pipe stream (either byte order) into typed records, skipping bad ones with a reason."""

# No `from __future__ import annotations`: NamedTuple compiles every string annotation (~0.1 ms a class).

import os
import struct
from collections import Counter
from operator import itemgetter
from mmap import mmap
from types import TracebackType
from typing import Generator, Iterator, NamedTuple

from formats.decompress import ZstdStream
from formats.files import map_file
from formats.errors import FormatError, TruncatedError, parsing

from .attr import EventAttr
from .codec import layout
from .constants import HEADER_FEATURE, PERF_RECORD, PIPE_HEADER_SIZE, members
from .header import FileHeader, detect, parse_build_ids, read_attrs, read_feature_sections
from .records import (DECODERS, KERNEL_TYPES_MAX, AttrRecord, BuildIdRecord, FeatureRecord, OtherRecord, Record,
                      SampleId, SampleIdLayout)
from .sample import SampleRecord
from .samplelayout import SampleLayout

MAX_DECOMPRESSED = 64 << 20         # one COMPRESSED record never legitimately inflates beyond this
MAX_SKIP_NOTES = 1000
_KNOWN_TYPES = frozenset(members(PERF_RECORD).values())
_SAMPLE = PERF_RECORD.SAMPLE
_COMPRESSED = frozenset((PERF_RECORD.COMPRESSED, PERF_RECORD.COMPRESSED2))
_TRACING_DATA, _AUXTRACE = PERF_RECORD.HEADER_TRACING_DATA, PERF_RECORD.AUXTRACE
_second = itemgetter(1)
# The data errors a record decoder raises (FormatError, or what `parsing` maps to one); a record that
# raises one is skipped with its reason. Anything else is a bug and propagates.
_DECODE_ERRORS = (FormatError, struct.error, OverflowError, UnicodeDecodeError)


class Skip(NamedTuple):
    """One record (or tail of the stream) the reader could not use, and why."""

    offset: int
    type: int | None
    reason: str


class ReadStats:
    """What the reader saw: records by type, unknown types, and skipped records with reasons."""

    __slots__ = ("by_type", "unknown", "skipped", "skips")

    def __init__(self, by_type: "Counter[int] | None" = None, unknown: int = 0, skipped: int = 0,
                 skips: list[Skip] | None = None):
        self.by_type: Counter[int] = Counter() if by_type is None else by_type
        self.unknown, self.skipped = unknown, skipped
        self.skips = [] if skips is None else skips

    def skip(self, offset: int, rtype: int | None, reason: str) -> None:
        self.skipped += 1
        if len(self.skips) < MAX_SKIP_NOTES:
            self.skips.append(Skip(offset, rtype, reason))

    def _key(self) -> "tuple[Counter[int], int, int, list[Skip]]":
        return self.by_type, self.unknown, self.skipped, self.skips

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ReadStats) and self._key() == other._key()

    def __repr__(self) -> str:
        return (f"ReadStats(by_type={self.by_type!r}, unknown={self.unknown}, skipped={self.skipped}, "
                f"skips={self.skips!r})")


class PerfDataReader:
    """A perf.data file (file or pipe mode) held in memory or mmap'd; `records()` decodes lazily.

    Sample stacks are not copied: `SampleRecord.stack_user` is a read-only memoryview into the data.
    """

    def __init__(self, source: "str | os.PathLike[str] | bytes | bytearray | memoryview", path: str | None = None):
        if isinstance(source, (str, os.PathLike)):
            self.path: str | None = os.fspath(source)
            self._data: bytes | mmap = map_file(self.path)
        else:
            self.path, self._data = path, bytes(source)
        self.endian, self.pipe = detect(self._data, self.path)
        self.header: FileHeader | None = None
        self.attrs: list[EventAttr] = []
        self.features: dict[int, bytes] = {}
        self.build_ids: list[BuildIdRecord] = []
        self.stats = ReadStats()
        self._ids: dict[int, int] = {}
        self._layouts: list[SampleLayout] = []         # how each attr's samples are decoded
        self._single: SampleLayout | None = None        # the only one, when there is one attr
        self._id_layouts: list[SampleIdLayout | None] = []     # each attr's sample_id_all trailer, if it has one
        self._zstd: ZstdStream | None = None
        if not self.pipe:
            with parsing(self.path, 0, "perf.data header"):
                self.header = FileHeader.from_bytes(self._data, self.endian)
                self._add_attrs(read_attrs(self._data, self.header, self.path))
                for feat, sec in read_feature_sections(self._data, self.header).items():
                    self._add_feature(feat, bytes(self._data[sec.offset:sec.end]), sec.offset)
        self._header_state = (list(self.attrs), dict(self._ids), dict(self.features), list(self.build_ids),
                              list(self.stats.skips), self.stats.skipped)

    # -- public -------------------------------------------------------------------------------------

    def records(self) -> "Iterator[Record]":
        """Every decodable record in stream order (COMPRESSED records expanded in place)."""
        return map(_second, self.records_with_offsets())

    def records_with_offsets(self) -> Iterator[tuple[int, Record]]:
        """(file offset, record); records from a COMPRESSED record carry that record's offset."""
        self._restart()
        header = self.header
        if header is None:  # pipe mode
            start, end = PIPE_HEADER_SIZE, len(self._data)
        else:
            start, end = header.data.offset, header.data.end
            if header.data.size == 0:
                end = len(self._data)
                self.stats.skip(40, None, "data size is 0 (perf record not finished?); reading to end of file")
            if end > len(self._data):
                self.stats.skip(len(self._data), None, f"data section ends at {end:#x} past end of file")
                end = len(self._data)
        view = memoryview(self._data)       # record bodies are slices of it, not copies
        try:
            yield from self._records(view, start, end, None)
        finally:
            view.release()

    def close(self) -> None:
        """Unmap the file, unless records still view it (their stacks): then it goes with the last of them."""
        if not isinstance(self._data, bytes):
            try:
                self._data.close()
            except BufferError:
                pass

    def __enter__(self) -> "PerfDataReader":
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def attr_for_id(self, sample_id: int) -> EventAttr | None:
        index = self._ids.get(sample_id)
        return None if index is None else self.attrs[index]

    # -- internals ----------------------------------------------------------------------------------

    def _restart(self) -> None:
        """Forget what a previous pass over the stream added, so every pass sees the same thing."""
        attrs, ids, features, build_ids, skips, skipped = self._header_state
        self.attrs, self._ids, self.features, self.build_ids = list(attrs), dict(ids), dict(features), list(build_ids)
        self._layouts = [SampleLayout(attr, self.endian) for attr in self.attrs]
        self._id_layouts = [_id_layout(attr, self.endian) for attr in self.attrs]
        self._single = self._layouts[0] if len(self._layouts) == 1 else None
        self.stats = ReadStats(skips=list(skips), skipped=skipped)
        self._zstd = None

    def _add_attrs(self, attrs: list[EventAttr]) -> None:
        for attr in attrs:
            for ident in attr.ids:
                self._ids[ident] = len(self.attrs)
            self.attrs.append(attr)
            self._layouts.append(SampleLayout(attr, self.endian))
            self._id_layouts.append(_id_layout(attr, self.endian))
        self._single = self._layouts[0] if len(self._layouts) == 1 else None

    def _add_feature(self, feat: int, blob: bytes, offset: int) -> None:
        self.features[feat] = blob
        if feat == HEADER_FEATURE.BUILD_ID:
            try:
                entries, problem = parse_build_ids(blob, self.endian)
            except (struct.error, FormatError) as exc:
                entries, problem = [], str(exc)
            self.build_ids.extend(entries)
            if problem:
                self.stats.skip(offset, PERF_RECORD.HEADER_BUILD_ID, f"build-id feature: {problem}")

    def _records(self, buf: memoryview, start: int, end: int,
                 compressed_at: int | None) -> Generator[tuple[int, Record], None, int]:
        """(offset, record) of each whole record in buf[start:end] until framing breaks; returns where it stopped.

        The top level expands COMPRESSED records through the same walk over the decompressed stream
        (`compressed_at` is then that record's offset, which the inner records report).
        """
        header = layout(self.endian, "IHH").unpack_from
        stats, decode = self.stats, self._decode
        single = self._single           # re-read after other records: pipe mode adds attrs on the way
        record: Record | None
        pending = b""
        pos = start
        while pos + 8 <= end:
            rtype, misc, size = header(buf, pos)
            where = pos if compressed_at is None else compressed_at
            if rtype == _SAMPLE and single is not None and 8 <= size and pos + size <= end:    # the hot path
                try:
                    record = single.decode(buf[pos + 8:pos + size], misc, 0)
                except _DECODE_ERRORS as exc:
                    stats.skip(where, rtype, _reason(exc, rtype))
                else:
                    stats.by_type[rtype] += 1
                    yield where, record
                pos += size
                continue
            if size < 8:
                stats.skip(where, rtype, f"record size {size} < 8; cannot resynchronise")
                break
            if pos + size > end:
                if compressed_at is None:
                    stats.skip(where, rtype, f"record of {size} bytes truncated at {end:#x}")
                break
            extra = self._payload_after(buf, pos, rtype, size) if rtype == _TRACING_DATA or rtype == _AUXTRACE else 0
            if pos + size + extra > end:
                if compressed_at is None:
                    stats.skip(where, rtype, f"payload of {extra} bytes after the record is truncated")
                break
            body = buf[pos + 8:pos + size]
            if rtype in _COMPRESSED and compressed_at is None:
                stream = self._decompress(pos, rtype, body)
                if stream is not None:
                    stream = pending + stream
                    used = yield from self._records(memoryview(stream), 0, len(stream), pos)
                    pending = self._leftover(stream[used:], pos)
            else:
                record = decode(where, rtype, misc, body)
                if record is not None:
                    yield where, record
            single = self._single
            pos += size + extra
        else:
            if compressed_at is None and pos != end:
                stats.skip(pos, None, f"{end - pos} trailing bytes")
        if pending:
            stats.skip(end, None, f"{len(pending)} bytes of a partial record left in the compressed stream")
        return pos

    def _leftover(self, rest: bytes, offset: int) -> bytes:
        """The start of a record continued by the next COMPRESSED record, or b"" when framing broke."""
        if len(rest) >= 8 and layout(self.endian, "IHH").unpack_from(rest, 0)[2] < 8:
            self.stats.skip(offset, PERF_RECORD.COMPRESSED, "bad record framing inside the compressed stream")
            return b""
        return rest

    def _payload_after(self, buf: memoryview, pos: int, rtype: int, size: int) -> int:
        """Bytes that follow a record outside its header size (tracing data, AUX trace)."""
        extra: int
        if rtype == _TRACING_DATA and size >= 12:
            (extra,) = layout(self.endian, "I").unpack_from(buf, pos + 8)
            return (extra + 7) & ~7
        if rtype == _AUXTRACE and size >= 16:
            (extra,) = layout(self.endian, "Q").unpack_from(buf, pos + 8)
            return extra
        return 0

    def _decompress(self, offset: int, rtype: int, body: memoryview) -> bytes | None:
        """Feed one COMPRESSED record to the stream's zstd context (perf flushes, never ends, its frame)."""
        if rtype == PERF_RECORD.COMPRESSED2:
            if len(body) < 8:
                self.stats.skip(offset, rtype, "COMPRESSED2 record too short for its data size")
                return None
            (size,) = layout(self.endian, "Q").unpack_from(body, 0)
            body = body[8:8 + size]
        if self._zstd is None:
            self._zstd = ZstdStream()
        try:
            out = self._zstd.feed(body, MAX_DECOMPRESSED, self.path, offset)
        except FormatError as exc:
            self._zstd = None                    # the stream is lost; a later frame may still decode
            self.stats.skip(offset, rtype, f"zstd: {exc.message}")
            return None
        self.stats.by_type[rtype] += 1
        return out

    def _decode(self, offset: int, rtype: int, misc: int, body: memoryview) -> "Record | None":
        """The record, or None when it is skipped (counted, with the reason `parsing` gives)."""
        record: Record | None
        try:
            if rtype == _SAMPLE:
                record = self._sample(offset, misc, body)
            else:
                record = self._decode_other(offset, rtype, misc, body)
        except _DECODE_ERRORS as exc:
            self.stats.skip(offset, rtype, _reason(exc, rtype))
            return None
        if record is not None:
            self.stats.by_type[rtype] += 1
        return record

    def _sample(self, offset: int, misc: int, body: memoryview) -> SampleRecord | None:
        index = 0 if len(self.attrs) == 1 else self._attr_index(offset, body, _SAMPLE)
        if index is None:
            return None
        return self._layouts[index].decode(body, misc, index)

    def _decode_other(self, offset: int, t: int, misc: int, body: memoryview) -> Record:
        e = self.endian
        if t <= KERNEL_TYPES_MAX:
            sample_id: SampleId | None = None
            index = self._attr_index(offset, body, t) if self.attrs else None
            trailer = None if index is None else self._id_layouts[index]
            if trailer is not None:
                size = trailer.size
                if size > len(body):
                    raise TruncatedError(f"sample_id trailer of {size} bytes longer than the record")
                sample_id = trailer.decode(body, len(body) - size)
                body = body[:len(body) - size]
            decoder = DECODERS.get(t)
            if decoder is None:
                if t not in _KNOWN_TYPES:
                    self.stats.unknown += 1
                return OtherRecord(t, bytes(body), misc, sample_id)
            return decoder(body, misc, e, sample_id)
        if t == PERF_RECORD.HEADER_ATTR:
            attr = AttrRecord.from_body(body, misc, e)
            self._add_attrs([attr.attr])
            return attr
        if t == PERF_RECORD.HEADER_BUILD_ID:
            build_id = BuildIdRecord.from_body(body, misc, e)
            self.build_ids.append(build_id)
            return build_id
        if t == PERF_RECORD.HEADER_FEATURE:
            feature = FeatureRecord.from_body(body, misc, e)
            self._add_feature(feature.feature, feature.data, offset)
            return feature
        if t not in _KNOWN_TYPES:
            self.stats.unknown += 1
        return OtherRecord(t, bytes(body), misc)

    def _attr_index(self, offset: int, body: memoryview, rtype: int) -> int | None:
        """Which attr a kernel record belongs to, by the sample id at perf's id_pos / is_pos."""
        if not self.attrs:
            self.stats.skip(offset, rtype, "sample before any event attr")
            return None
        if len(self.attrs) == 1:
            return 0
        first = self.attrs[0]
        if rtype == _SAMPLE:
            pos = first.id_pos
            at = None if pos is None else pos * 8
        else:
            if not first.sample_id_all:
                return 0
            pos = first.is_pos
            at = None if pos is None else len(body) - pos * 8
        if at is None:
            return 0
        (ident,) = layout(self.endian, "Q").unpack_from(body, at)
        index = self._ids.get(ident)
        if index is None:
            if rtype == _SAMPLE:
                self.stats.skip(offset, rtype, f"sample with unknown id {ident}")
                return None
            return 0
        return index


def _id_layout(attr: EventAttr, endian: str) -> SampleIdLayout | None:
    return SampleIdLayout(attr.sample_type, endian) if attr.sample_id_all else None


def _reason(exc: Exception, rtype: int) -> str:
    """The message `parsing` gives a record's decoding fault (one wording for every skip)."""
    try:
        with parsing(None, None, f"perf record type {rtype}"):
            raise exc
    except FormatError as err:
        return err.message


def read_perf_data(source: "str | os.PathLike[str] | bytes") -> tuple[PerfDataReader, list[Record]]:
    """Read everything at once: (reader with attrs/features/stats, records)."""
    reader = PerfDataReader(source)
    return reader, list(reader.records())
