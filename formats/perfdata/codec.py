"""Byte-order helpers shared by the perf.data records: struct pairs and bitfield-word reversal."""

from __future__ import annotations

import struct
from typing import TypeAlias

LITTLE = "<"
BIG = ">"
Body: TypeAlias = "bytes | memoryview"  # a record body: from a reader, a view into the file

# Every fixed-size layout the perf.data records, header and attrs use, compiled once per byte order:
# a constant table, not a memo (word arrays whose count comes from the data are compiled per call).
_FIXED = ("H", "I", "i", "Q", "II", "ii", "QQ", "IHH", "I4x", "IIQQ", "iiQQQ", "iiiiQ", "iiQQQIIQQII",
          "IIQQQQQIIQ", "8x2Q6Q4Q", "2Q6Q4Q")
_LAYOUTS = {(endian, fmt): struct.Struct(endian + fmt) for endian in (LITTLE, BIG) for fmt in _FIXED}


def layout(endian: str, fmt: str) -> struct.Struct:
    """The struct for `fmt` in one byte order ('<' or '>'): precompiled for the fixed layouts."""
    found = _LAYOUTS.get((endian, fmt))
    return found if found is not None else struct.Struct(endian + fmt)


def u64s(endian: str, data: bytes | memoryview, offset: int, count: int) -> tuple[int, ...]:
    """`count` u64 words at `offset`."""
    return layout(endian, f"{count}Q").unpack_from(data, offset)



def bitfield_word(value: int, endian: str) -> int:
    """A C bitfield u64 as it reads on this host; big-endian hosts allocate bits from the top."""
    if endian == LITTLE:
        return value
    return int(f"{value:064b}"[::-1], 2)  # the whole word's bits reversed


def cstring(data: bytes | bytearray | memoryview) -> str:
    """A NUL-terminated (and padded) string field."""
    raw = bytes(data)
    end = raw.find(b"\0")
    return (raw if end < 0 else raw[:end]).decode("utf-8", "surrogateescape")


def padded(text: str | bytes, align: int = 8) -> bytes:
    """A string with its NUL, padded with zeros to `align` bytes."""
    raw = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
    size = (len(raw) + 1 + align - 1) // align * align
    return raw.ljust(size, b"\0")


# perf_branch_entry's bitfields after from/to (uapi 6.1): mispred, predicted, in_tx, abort, cycles:16,
# type:4, spec:2, new_type:4, priv:3; a big-endian host allocates them from the top bit down.
_BRANCH_FIELDS = ((0, 1), (1, 1), (2, 1), (3, 1), (4, 16), (20, 4), (24, 2), (26, 4), (30, 3))


def branch_flags_word(value: int, endian: str) -> int:
    """The branch flags u64 as read on this host (whole fields move, their bits keep their order)."""
    if endian == LITTLE:
        return value
    out = 0
    for pos, size in _BRANCH_FIELDS:
        mask = (1 << size) - 1
        out |= ((value >> (64 - pos - size)) & mask) << pos
    return out


def branch_flags_to_word(flags: int, endian: str) -> int:
    """Inverse of branch_flags_word: the u64 a host of `endian` byte order stores."""
    if endian == LITTLE:
        return flags
    out = 0
    for pos, size in _BRANCH_FIELDS:
        mask = (1 << size) - 1
        out |= ((flags >> pos) & mask) << (64 - pos - size)
    return out
