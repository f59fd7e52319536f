"""The .eh_frame_hdr binary-search table: (initial location, FDE address) pairs sorted by location."""

from __future__ import annotations

import bisect
import struct
from dataclasses import dataclass

from ..errors import FormatError, TruncatedError, parsing
from .parse import encoded_size, read_encoded

DATAREL_SDATA4 = 0x3B


@dataclass(frozen=True, slots=True)
class EhFrameHdr:
    """Parsed .eh_frame_hdr (LSB 4.1): `locations[i]` starts the function whose FDE is at `fdes[i]` (vaddrs)."""

    version: int
    eh_frame_ptr: int
    locations: tuple[int, ...]
    fdes: tuple[int, ...]

    @classmethod
    def from_bytes(cls, data: bytes, address: int, path: str | None = None) -> "EhFrameHdr":
        """Decode the section at ELF virtual address `address`."""
        if len(data) < 4:
            raise TruncatedError(f".eh_frame_hdr of {len(data)} bytes is shorter than its 4-byte header", path, 0)
        with parsing(path, 0, ".eh_frame_hdr"):
            version, ptr_enc, count_enc, table_enc = data[0], data[1], data[2], data[3]
            if version != 1:
                raise FormatError(f"unsupported .eh_frame_hdr version {version}", path, 0)
            eh_frame_ptr, pos = read_encoded(data, 4, ptr_enc, pc_base=address, data_base=address, path=path)
            count, pos = read_encoded(data, pos, count_enc, pc_base=address, data_base=address, path=path)
            if count is None or table_enc == 0xFF:
                return cls(version, eh_frame_ptr or 0, (), ())
            if table_enc == DATAREL_SDATA4:
                if pos + 8 * count > len(data):
                    raise TruncatedError(f".eh_frame_hdr table of {count} entries runs past the end", path, pos)
                raw = struct.unpack_from(f"<{2 * count}i", data, pos)
                locations = tuple((address + v) & 0xFFFFFFFFFFFFFFFF for v in raw[0::2])
                fdes = tuple((address + v) & 0xFFFFFFFFFFFFFFFF for v in raw[1::2])
            else:
                size = encoded_size(table_enc)
                if size and pos + 2 * size * count > len(data):
                    raise TruncatedError(f".eh_frame_hdr table of {count} entries runs past the end", path, pos)
                locs, addrs = [], []
                for _ in range(count):
                    loc, pos = read_encoded(data, pos, table_enc, pc_base=address, data_base=address, path=path)
                    fde, pos = read_encoded(data, pos, table_enc, pc_base=address, data_base=address, path=path)
                    locs.append(loc)
                    addrs.append(fde)
                locations, fdes = tuple(locs), tuple(addrs)
        if any(a > b for a, b in zip(locations, locations[1:])):
            raise FormatError(".eh_frame_hdr table is not sorted", path, 12)
        return cls(version, eh_frame_ptr or 0, locations, fdes)

    def lookup(self, vaddr: int) -> int | None:
        """Virtual address of the FDE whose range may hold `vaddr` (the caller checks the range)."""
        i = bisect.bisect_right(self.locations, vaddr) - 1
        return self.fdes[i] if i >= 0 else None
