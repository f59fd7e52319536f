"""The perf.data file header, pipe header, attr table and header feature sections."""

# No `from __future__ import annotations`: NamedTuple compiles every string annotation (~0.1 ms a class).

from typing import NamedTuple

from formats.errors import FormatError
from formats.files import View

from .attr import EventAttr
from .codec import BIG, LITTLE, layout, padded
from .constants import FILE_HEADER_SIZE, NAME_ALIGN, PERF_MAGIC, PERF_MAGIC_SWAPPED, PERF_RECORD, PIPE_HEADER_SIZE
from .records import BuildIdRecord, RecordHeader

_SECTION = "QQ"


class FileSection(NamedTuple):
    """perf_file_section: where a part of the file is."""

    offset: int
    size: int

    @property
    def end(self) -> int:
        return self.offset + self.size


class FileHeader(NamedTuple):
    """perf_file_header (104 bytes) of a file-mode perf.data; `features` is the 256-bit bitmap."""

    size: int
    attr_size: int
    attrs: FileSection
    data: FileSection
    event_types: FileSection
    features: int
    endian: str = LITTLE

    @classmethod
    def from_bytes(cls, data: View, endian: str) -> "FileHeader":
        w = layout(endian, "8x2Q6Q4Q").unpack_from(data, 0)
        bitmap = sum(word << (64 * i) for i, word in enumerate(w[8:12]))
        return cls(w[0], w[1], FileSection(w[2], w[3]), FileSection(w[4], w[5]), FileSection(w[6], w[7]),
                   bitmap, endian)

    def to_bytes(self) -> bytes:
        magic = PERF_MAGIC if self.endian == LITTLE else PERF_MAGIC_SWAPPED
        words = [(self.features >> (64 * i)) & (2**64 - 1) for i in range(4)]
        return magic + layout(self.endian, "2Q6Q4Q").pack(
            self.size, self.attr_size, self.attrs.offset, self.attrs.size, self.data.offset,
            self.data.size, self.event_types.offset, self.event_types.size, *words)

    @property
    def feature_ids(self) -> list[int]:
        return [bit for bit in range(256) if self.features >> bit & 1]


def detect(data: View, path: str | None = None) -> tuple[str, bool]:
    """(byte order, pipe mode) from the magic and the header size word; FormatError when neither fits."""
    if len(data) < PIPE_HEADER_SIZE:
        raise FormatError("too short for a perf.data header", path, 0)
    magic = bytes(data[:8])
    if magic == PERF_MAGIC:
        endian = LITTLE
    elif magic == PERF_MAGIC_SWAPPED:
        endian = BIG
    else:
        raise FormatError(f"bad perf.data magic {magic!r}", path, 0)
    (size,) = layout(endian, "Q").unpack_from(data, 8)
    if size == PIPE_HEADER_SIZE:
        return endian, True
    if size != FILE_HEADER_SIZE or len(data) < FILE_HEADER_SIZE:
        raise FormatError(f"perf.data header size {size} is neither file (104) nor pipe (16) mode", path, 8)
    return endian, False


def read_attrs(data: View, header: FileHeader, path: str | None = None) -> list[EventAttr]:
    """The attr table with each attr's sample ids."""
    entry = header.attr_size
    if entry < 64 + 16 or header.attrs.end > len(data) or header.attrs.size % entry:
        raise FormatError(f"bad attr table (entry size {entry}, section {header.attrs})", path, 16)
    attrs = []
    for at in range(header.attrs.offset, header.attrs.end, entry):
        (own,) = layout(header.endian, "I").unpack_from(data, at + 4)
        attr = EventAttr.from_bytes(data, at, header.endian, own if 0 < own <= entry - 16 else entry - 16)
        ids = FileSection(*layout(header.endian, _SECTION).unpack_from(data, at + entry - 16))
        if ids.size % 8 or ids.end > len(data):
            raise FormatError(f"attr id section {ids} outside the file", path, at + entry - 16)
        attrs.append(attr.with_ids(layout(header.endian, f"{ids.size // 8}Q").unpack_from(data, ids.offset)))
    if not attrs:
        raise FormatError("perf.data has no event attrs", path, 16)
    return attrs


def read_feature_sections(data: View, header: FileHeader) -> dict[int, FileSection]:
    """feature id -> section, from the index that follows the data section (sections past EOF dropped)."""
    ids = header.feature_ids
    index_at = header.data.end
    if index_at + 16 * len(ids) > len(data):
        return {}
    out = {}
    for i, feat in enumerate(ids):
        sec = FileSection(*layout(header.endian, _SECTION).unpack_from(data, index_at + 16 * i))
        if sec.end <= len(data):
            out[feat] = sec
    return out


def parse_build_ids(blob: View, endian: str) -> tuple[list[BuildIdRecord], str | None]:
    """Entries of a HEADER_BUILD_ID section; stops at the first bad entry and says why."""
    out: list[BuildIdRecord] = []
    pos = 0
    while pos + 8 <= len(blob):
        head = RecordHeader.from_bytes(blob, pos, endian)
        if head.size < 8 + 28 or pos + head.size > len(blob):
            return out, f"bad build-id entry size {head.size} at {pos:#x}"
        out.append(BuildIdRecord.from_body(blob[pos + 8:pos + head.size], head.misc, endian))
        pos += head.size
    return out, None


def encode_build_ids(entries: list[BuildIdRecord], endian: str = LITTLE) -> bytes:
    out = b""
    for e in entries:
        body = e.body(endian)
        out += RecordHeader(PERF_RECORD.HEADER_BUILD_ID, e.misc, 8 + len(body)).to_bytes(endian) + body
    return out


def parse_string(blob: View, endian: str) -> str:
    """A perf_header_string: u32 length (padding included), then the NUL-padded text."""
    (size,) = layout(endian, "I").unpack_from(blob, 0)
    raw = bytes(blob[4:4 + size])
    return raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def encode_string(text: str, endian: str = LITTLE) -> bytes:
    raw = padded(text, NAME_ALIGN)
    return layout(endian, "I").pack(len(raw)) + raw


def describe_features(header: FileHeader) -> list[str]:
    """Feature names present in the header, unknown bits as numbers."""
    from .constants import HEADER_FEATURE, members

    names = {value: name for name, value in members(HEADER_FEATURE).items()}
    return [names.get(b, str(b)) for b in header.feature_ids]
