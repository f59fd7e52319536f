"""jitdump files (`jit-PID.dump`, tools/perf/Documentation/jitdump-specification.txt): JIT code loads and moves.

A 40-byte header (magic `JiTD`, version, header size, ELF machine, pad, pid, timestamp, flags), then
records of `id, total_size, timestamp`. Read here: JIT_CODE_LOAD (pid, tid, vma, code address, size,
index, NUL-terminated name, code bytes, kept) and JIT_CODE_MOVE (the same code at a new address); debug-info,
unwinding-info and close records are skipped by their size, as `perf inject --jit` does for what it
does not need. A truncated last record (the JIT still writing) ends the file quietly.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from .errors import FormatError

MAGIC = 0x4A695444  # "JiTD" in the writer's byte order
_HEADER = struct.Struct("<IIIIIIQQ")
_RECORD = struct.Struct("<IIQ")
_LOAD = struct.Struct("<IIQQQQ")  # pid, tid, vma, code_addr, code_size, code_index
_MOVE = struct.Struct("<IIQQQQQ")  # pid, tid, vma, old_code_addr, new_code_addr, code_size, code_index
MAX_NAME = 1 << 16


class JitRecordType(IntEnum):
    CODE_LOAD = 0
    CODE_MOVE = 1
    CODE_DEBUG_INFO = 2
    CODE_CLOSE = 3
    CODE_UNWINDING_INFO = 4


@dataclass(frozen=True, slots=True)
class JitCode:
    """One piece of JIT code: [address, address + size) named `name`, loaded at `timestamp`; `code` its bytes
    (what the record holds of them)."""

    address: int
    size: int
    name: str
    index: int
    timestamp: int
    code: bytes = b""


@dataclass(frozen=True, slots=True)
class JitDump:
    pid: int
    timestamp: int
    code: tuple[JitCode, ...]


def parse_jitdump(data: bytes, path: str | None = None) -> JitDump:
    if len(data) < _HEADER.size:
        raise FormatError("too short for a jitdump header", path, 0)
    magic, version, header_size, _mach, _pad, pid, timestamp, _flags = _HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise FormatError(f"not a jitdump file (magic {magic:#x})", path, 0)
    if version != 1 or header_size < _HEADER.size or header_size > len(data):
        raise FormatError(f"unsupported jitdump version {version} or header size {header_size}", path, 0)
    names: dict[int, JitCode] = {}  # code index -> its latest load or move
    code: list[JitCode] = []
    at = header_size
    while at + _RECORD.size <= len(data):
        kind, size, stamp = _RECORD.unpack_from(data, at)
        if size < _RECORD.size:
            raise FormatError(f"record of {size} bytes", path, at)
        if at + size > len(data):
            break  # the JIT was still writing it
        body = at + _RECORD.size
        if kind == JitRecordType.CODE_LOAD and size >= _RECORD.size + _LOAD.size:
            _pid, _tid, _vma, address, length, index = _LOAD.unpack_from(data, body)
            start = body + _LOAD.size
            end = data.find(b"\0", start, min(at + size, start + MAX_NAME))
            if end < 0:
                raise FormatError("code-load name without its NUL", path, start)
            code_at = end + 1
            entry = JitCode(address, length, data[start:end].decode("utf-8", "replace"), index, stamp,
                            data[code_at:min(code_at + length, at + size)])
            names[index] = entry
            code.append(entry)
        elif kind == JitRecordType.CODE_MOVE and size >= _RECORD.size + _MOVE.size:
            _pid, _tid, _vma, _old, new, length, index = _MOVE.unpack_from(data, body)
            moved = names.get(index)
            if moved is not None:
                entry = JitCode(new, length, moved.name, index, stamp, moved.code)
                names[index] = entry
                code.append(entry)
        at += size
    return JitDump(pid, timestamp, tuple(code))


__all__ = ["JitCode", "JitDump", "JitRecordType", "parse_jitdump"]
