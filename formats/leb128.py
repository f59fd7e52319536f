"""LEB128 variable-length integers, as DWARF, CFI and ORC-adjacent tables encode them."""

from __future__ import annotations

from .errors import TruncatedError
from .files import View


def read_uleb(data: View, pos: int) -> tuple[int, int]:
    """Decode an unsigned LEB128 at `pos`; returns (value, next position).

    Raises TruncatedError (with the offset) when the number runs past the end of `data`.
    """
    end = len(data)
    if pos >= end:
        raise TruncatedError("ULEB128 runs past the end", None, pos)
    byte = data[pos]
    if byte < 0x80:
        return byte, pos + 1
    start = pos
    result = byte & 0x7F
    shift = 7
    while True:
        pos += 1
        if pos >= end:
            raise TruncatedError("ULEB128 runs past the end", None, start)
        byte = data[pos]
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos + 1
        shift += 7


def read_sleb(data: View, pos: int) -> tuple[int, int]:
    """Decode a signed LEB128 at `pos`; returns (value, next position).

    Raises TruncatedError (with the offset) when the number runs past the end of `data`.
    """
    end = len(data)
    start = pos
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise TruncatedError("SLEB128 runs past the end", None, start)
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            if byte & 0x40:
                result -= 1 << shift
            return result, pos


def encode_uleb(value: int) -> bytes:
    """Encode a non-negative integer as unsigned LEB128."""
    if value < 0:
        raise ValueError("ULEB128 cannot encode a negative value")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode_sleb(value: int) -> bytes:
    """Encode an integer as signed LEB128."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        done = (value == 0 and not byte & 0x40) or (value == -1 and byte & 0x40)
        out.append(byte if done else byte | 0x80)
        if done:
            return bytes(out)
