"""Hand-assembled CFI sections for the tests: entries built byte by byte, assembled into an object by `as`."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

from formats.leb128 import encode_sleb as sleb
from formats.leb128 import encode_uleb as uleb

__all__ = ["uleb", "sleb", "cie", "fde", "assemble"]


def cie(instructions: bytes, *, augmentation: str = "", version: int = 1, code: int = 1, data: int = -8,
        ra: int = 16, aug_data: bytes = b"", eh: bool = False, dwarf64: bool = False,
        address_size: int = 8) -> bytes:
    """A CIE: id, version, augmentation string, [v4: address/segment size], factors, RA column, [z data]."""
    body = bytes([version]) + augmentation.encode() + b"\0"
    if version >= 4:
        body += bytes([address_size, 0])
    body += uleb(code) + sleb(data) + (bytes([ra]) if version == 1 else uleb(ra))
    if augmentation.startswith("z"):
        body += uleb(len(aug_data)) + aug_data
    body += instructions
    cie_id = 0 if eh else (0xFFFFFFFFFFFFFFFF if dwarf64 else 0xFFFFFFFF)
    return _entry(cie_id, body, dwarf64)


def fde(cie_pointer: int, begin: int, size: int, instructions: bytes, *, aug: bool = False,
        aug_data: bytes = b"", dwarf64: bool = False, pointer: str = "<Q") -> bytes:
    """An FDE with absolute (udata8 / udata4 by `pointer`) begin and size; `cie_pointer` as stored."""
    body = struct.pack(pointer, begin) + struct.pack(pointer, size)
    if aug:
        body += uleb(len(aug_data)) + aug_data
    return _entry(cie_pointer, body + instructions, dwarf64)


def _entry(cie_id: int, body: bytes, dwarf64: bool) -> bytes:
    if dwarf64:
        payload = struct.pack("<Q", cie_id) + body
        payload += b"\0" * (-(12 + len(payload)) % 8)  # DW_CFA_nop padding to 8 bytes
        return struct.pack("<IQ", 0xFFFFFFFF, len(payload)) + payload
    payload = struct.pack("<I", cie_id) + body
    payload += b"\0" * (-(4 + len(payload)) % 8)
    return struct.pack("<I", len(payload)) + payload


def assemble(tmp: Path, sections: dict[str, bytes], name: str = "cfi") -> Path:
    """An ELF object holding the given raw sections (no relocations), built with GNU as."""
    lines = []
    for section, data in sections.items():
        flags = '"a"' if section == ".eh_frame" else '""'
        lines.append(f".section {section},{flags},@progbits")
        for i in range(0, len(data), 16):
            lines.append(".byte " + ",".join(str(b) for b in data[i:i + 16]))
    source = tmp / f"{name}.s"
    source.write_text("\n".join(lines) + "\n")
    obj = tmp / f"{name}.o"
    subprocess.run(["as", "--64", "-o", str(obj), str(source)], check=True, capture_output=True)
    return obj
