"""Read a perf.data file or pipe stream (either byte order) into typed records, skipping bad ones with a reason."""

from __future__ import annotations

import mmap
import struct
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

from formats.errors import FormatError, parsing

from .attr import EventAttr
from .codec import layout
from .constants import PIPE_HEADER_SIZE, HeaderFeature, RecordType
from .header import FileHeader, detect, parse_build_ids, read_attrs, read_feature_sections
from .records import (DECODERS, KERNEL_TYPES_MAX, AttrRecord, BuildIdRecord, FeatureRecord, OtherRecord,
                      RecordHeader, SampleId)
from .sample import decode_sample

MAX_DECOMPRESSED = 256 << 20        # one COMPRESSED record never legitimately inflates beyond this
MAX_SKIP_NOTES = 1000
_KNOWN_TYPES = set(RecordType._value2member_map_)


@dataclass(frozen=True, slots=True)
class Skip:
    """One record (or tail of the stream) the reader could not use, and why."""

    offset: int
    type: int | None
    reason: str


@dataclass(slots=True)
class ReadStats:
    """What the reader saw: records by type, unknown types, and skipped records with reasons."""

    by_type: Counter = field(default_factory=Counter)
    unknown: int = 0
    skipped: int = 0
    skips: list[Skip] = field(default_factory=list)

    def skip(self, offset: int, rtype: int | None, reason: str) -> None:
        self.skipped += 1
        if len(self.skips) < MAX_SKIP_NOTES:
            self.skips.append(Skip(offset, rtype, reason))


class PerfDataReader:
    """A perf.data file (file or pipe mode) held in memory or mmap'd; `records()` decodes lazily."""

    def __init__(self, source: str | Path | bytes | bytearray | memoryview, path: str | None = None):
        if isinstance(source, (str, Path)):
            self.path = str(source)
            with open(source, "rb") as fh:
                try:
                    self._data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
                except ValueError:          # empty file
                    self._data = b""
        else:
            self.path, self._data = path, bytes(source)
        self.endian, self.pipe = detect(self._data, self.path)
        self.header: FileHeader | None = None
        self.attrs: list[EventAttr] = []
        self.features: dict[int, bytes] = {}
        self.build_ids: list[BuildIdRecord] = []
        self.stats = ReadStats()
        self._ids: dict[int, int] = {}
        self._zstd = None
        if not self.pipe:
            with parsing(self.path, 0, "perf.data header"):
                self.header = FileHeader.from_bytes(self._data, self.endian)
                self._add_attrs(read_attrs(self._data, self.header, self.path))
                for feat, sec in read_feature_sections(self._data, self.header).items():
                    self._add_feature(feat, bytes(self._data[sec.offset:sec.end]), sec.offset)
        self._header_state = (list(self.attrs), dict(self._ids), dict(self.features), list(self.build_ids),
                              list(self.stats.skips), self.stats.skipped)

    # -- public -------------------------------------------------------------------------------------

    def records(self) -> Iterator[object]:
        """Every decodable record in stream order (COMPRESSED records expanded in place)."""
        for _, record in self.records_with_offsets():
            yield record

    def records_with_offsets(self) -> Iterator[tuple[int, object]]:
        """(file offset, record); records from a COMPRESSED record carry that record's offset."""
        self._restart()
        if self.pipe:
            start, end = PIPE_HEADER_SIZE, len(self._data)
        else:
            start, end = self.header.data.offset, self.header.data.end
            if self.header.data.size == 0:
                end = len(self._data)
                self.stats.skip(40, None, "data size is 0 (perf record not finished?); reading to end of file")
            if end > len(self._data):
                self.stats.skip(len(self._data), None, f"data section ends at {end:#x} past end of file")
                end = len(self._data)
        pending = b""
        for offset, head, body in self._walk(self._data, start, end, None):
            if head.type in (RecordType.COMPRESSED, RecordType.COMPRESSED2):
                stream = self._decompress(offset, head.type, body)
                if stream is None:
                    continue
                stream = pending + stream
                used = 0
                for at, inner, inner_body in self._walk(stream, 0, len(stream), offset):
                    used = at + inner.size + self._payload_after(stream, at, inner)
                    yield from self._decode(offset, inner, inner_body)
                pending = self._leftover(stream[used:], offset)
                continue
            yield from self._decode(offset, head, body)
        if pending:
            self.stats.skip(end, None, f"{len(pending)} bytes of a partial record left in the compressed stream")

    def close(self) -> None:
        if isinstance(self._data, mmap.mmap):
            self._data.close()

    def __enter__(self) -> "PerfDataReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def attr_for_id(self, sample_id: int) -> EventAttr | None:
        index = self._ids.get(sample_id)
        return None if index is None else self.attrs[index]

    # -- internals ----------------------------------------------------------------------------------

    def _restart(self) -> None:
        """Forget what a previous pass over the stream added, so every pass sees the same thing."""
        attrs, ids, features, build_ids, skips, skipped = self._header_state
        self.attrs, self._ids, self.features, self.build_ids = list(attrs), dict(ids), dict(features), list(build_ids)
        self.stats = ReadStats(skips=list(skips), skipped=skipped)
        self._zstd = None

    def _add_attrs(self, attrs: list[EventAttr]) -> None:
        for attr in attrs:
            for ident in attr.ids:
                self._ids[ident] = len(self.attrs)
            self.attrs.append(attr)

    def _add_feature(self, feat: int, blob: bytes, offset: int) -> None:
        self.features[feat] = blob
        if feat == HeaderFeature.BUILD_ID:
            try:
                entries, problem = parse_build_ids(blob, self.endian)
            except (struct.error, ValueError, IndexError) as exc:
                entries, problem = [], str(exc)
            self.build_ids.extend(entries)
            if problem:
                self.stats.skip(offset, RecordType.HEADER_BUILD_ID, f"build-id feature: {problem}")

    def _walk(self, buf, start: int, end: int, compressed_at: int | None):
        """(offset, header, body) of each whole record in buf[start:end]; stops where framing breaks."""
        pos = start
        while pos + 8 <= end:
            head = RecordHeader.from_bytes(buf, pos, self.endian)
            where = pos if compressed_at is None else compressed_at
            if head.size < 8:
                self.stats.skip(where, head.type, f"record size {head.size} < 8; cannot resynchronise")
                return
            if pos + head.size > end:
                if compressed_at is None:
                    self.stats.skip(where, head.type, f"record of {head.size} bytes truncated at {end:#x}")
                return
            extra = self._payload_after(buf, pos, head)
            if pos + head.size + extra > end:
                if compressed_at is None:
                    self.stats.skip(where, head.type, f"payload of {extra} bytes after the record is truncated")
                return
            yield pos, head, buf[pos + 8:pos + head.size]
            pos += head.size + extra
        if compressed_at is None and pos != end:
            self.stats.skip(pos, None, f"{end - pos} trailing bytes")

    def _leftover(self, rest: bytes, offset: int) -> bytes:
        """The start of a record continued by the next COMPRESSED record, or b"" when framing broke."""
        if len(rest) >= 8 and RecordHeader.from_bytes(rest, 0, self.endian).size < 8:
            self.stats.skip(offset, RecordType.COMPRESSED, "bad record framing inside the compressed stream")
            return b""
        return rest

    def _payload_after(self, buf, pos: int, head: RecordHeader) -> int:
        """Bytes that follow a record outside its header size (tracing data, AUX trace)."""
        if head.type == RecordType.HEADER_TRACING_DATA and head.size >= 12:
            (size,) = layout(self.endian, "I").unpack_from(buf, pos + 8)
            return (size + 7) & ~7
        if head.type == RecordType.AUXTRACE and head.size >= 16:
            (size,) = layout(self.endian, "Q").unpack_from(buf, pos + 8)
            return size
        return 0

    def _decompress(self, offset: int, rtype: int, body) -> bytes | None:
        """Feed one COMPRESSED record to the stream's zstd context (perf flushes, never ends, its frame)."""
        import zstandard

        try:
            if rtype == RecordType.COMPRESSED2:
                (size,) = layout(self.endian, "Q").unpack_from(body, 0)
                body = body[8:8 + size]
            if self._zstd is None:
                self._zstd = zstandard.ZstdDecompressor().decompressobj()
            out = self._zstd.decompress(bytes(body))
        except (zstandard.ZstdError, struct.error, ValueError, MemoryError) as exc:
            self._zstd = None                    # the stream is lost; a later frame may still decode
            self.stats.skip(offset, rtype, f"zstd: {exc}")
            return None
        if self._zstd.eof:                       # a writer that ends frames: start a new one next time
            self._zstd = None
        self.stats.by_type[rtype] += 1
        if len(out) > MAX_DECOMPRESSED:
            self.stats.skip(offset, rtype, "decompressed record too large")
            return None
        return out

    def _decode(self, offset: int, head: RecordHeader, body) -> Iterator[tuple[int, object]]:
        try:
            with parsing(self.path, offset, f"perf record type {head.type}"):
                record = self._decode_one(offset, head, body)
        except FormatError as exc:
            self.stats.skip(offset, head.type, exc.message)
            return
        if record is not None:
            self.stats.by_type[head.type] += 1
            yield offset, record

    def _decode_one(self, offset: int, head: RecordHeader, body):
        t, misc, e = head.type, head.misc, self.endian
        if t == RecordType.SAMPLE:
            index = self._attr_index(offset, body, head)
            if index is None:
                return None
            return decode_sample(body, self.attrs[index], misc, e, index)
        if t <= KERNEL_TYPES_MAX:
            sample_id = None
            index = self._attr_index(offset, body, head) if self.attrs else None
            if index is not None and self.attrs[index].sample_id_all:
                st = self.attrs[index].sample_type
                size = SampleId.size_for(st)
                if size > len(body):
                    raise ValueError(f"sample_id trailer of {size} bytes longer than the record")
                sample_id = SampleId.from_bytes(body, len(body) - size, st, e)
                body = body[:len(body) - size]
            decoder = DECODERS.get(t)
            if decoder is None:
                if t not in _KNOWN_TYPES:
                    self.stats.unknown += 1
                return OtherRecord(t, bytes(body), misc, sample_id)
            return _with_sample_id(decoder(body, misc, e), sample_id)
        if t == RecordType.HEADER_ATTR:
            rec = AttrRecord.from_body(body, misc, e)
            self._add_attrs([rec.attr])
            return rec
        if t == RecordType.HEADER_BUILD_ID:
            rec = BuildIdRecord.from_body(body, misc, e)
            self.build_ids.append(rec)
            return rec
        if t == RecordType.HEADER_FEATURE:
            rec = FeatureRecord.from_body(body, misc, e)
            self._add_feature(rec.feature, rec.data, offset)
            return rec
        if t not in _KNOWN_TYPES:
            self.stats.unknown += 1
        return OtherRecord(t, bytes(body), misc)

    def _attr_index(self, offset: int, body, head: RecordHeader) -> int | None:
        """Which attr a kernel record belongs to, by the sample id at perf's id_pos / is_pos."""
        if not self.attrs:
            self.stats.skip(offset, head.type, "sample before any event attr")
            return None
        if len(self.attrs) == 1:
            return 0
        first = self.attrs[0]
        if head.type == RecordType.SAMPLE:
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
            if head.type == RecordType.SAMPLE:
                self.stats.skip(offset, head.type, f"sample with unknown id {ident}")
                return None
            return 0
        return index


def _with_sample_id(record, sample_id):
    return record if sample_id is None else replace(record, sample_id=sample_id)


def read_perf_data(source: str | Path | bytes) -> tuple[PerfDataReader, list[object]]:
    """Read everything at once: (reader with attrs/features/stats, records)."""
    reader = PerfDataReader(source)
    return reader, list(reader.records())
