"""A core's libraries from the dynamic linker's own list: AT_PHDR -> PT_DYNAMIC -> DT_DEBUG -> r_debug
-> link_map, read from the dumped memory, for cores whose NT_FILE note is missing or incomplete (older
kernels, some dumpers), as elfutils' dwfl_link_map_report does.

Each `link_map` gives a load bias (`l_addr`) and a name; the file's PT_LOADs then give its mappings,
as ld.so mapped them.  Relative names resolve against the executable's directory, then as given.
"""

from __future__ import annotations

import os
import struct

from formats.core import CoreFile
from formats.elf import PF_R, PF_W, PF_X, ElfFile, SegmentType
from formats.errors import UnwindError

from .model import Mapping

AT_PHDR, AT_PHNUM, AT_EXECFN = 3, 5, 31
DT_NULL, DT_DEBUG = 0, 21
PAGE = 4096
MAX_LIBRARIES = 4096        # a hostile list cannot loop or grow without bound
MAX_NAME = 4096
_PHDR = struct.Struct("<IIQQQQQQ")
_DYN = struct.Struct("<qQ")
_LINK_MAP = struct.Struct("<QQQQ")   # l_addr, l_name, l_ld, l_next
_U64 = struct.Struct("<Q")


def link_map_entries(core: CoreFile) -> list[tuple[int, str]]:
    """(l_addr, l_name) of every loaded object after the executable; [] when the chain cannot be read."""
    r_debug = _r_debug(core)
    if not r_debug:
        return []
    head = core.read(r_debug + 8, 8)
    if head is None:
        return []
    node: int = _U64.unpack(head)[0]
    out: list[tuple[int, str]] = []
    seen: set[int] = set()
    while node and node not in seen and len(seen) < MAX_LIBRARIES:
        seen.add(node)
        raw = core.read(node, _LINK_MAP.size)
        if raw is None:
            break
        l_addr, l_name, _l_ld, node = _LINK_MAP.unpack(raw)
        name = _string(core, l_name)
        if name:
            out.append((l_addr, name))
    return out


def _exe_bias_and_phdrs(core: CoreFile) -> tuple[int, list[tuple[int, ...]]] | None:
    phdr, phnum = core.auxv.get(AT_PHDR), core.auxv.get(AT_PHNUM)
    if not phdr or not phnum or phnum > 256:
        return None
    table = core.read(phdr, _PHDR.size * phnum)
    if table is None:
        return None
    phdrs = [_PHDR.unpack_from(table, i * _PHDR.size) for i in range(phnum)]
    self_entry = next((p for p in phdrs if p[0] == SegmentType.PHDR), None)
    bias = phdr - self_entry[3] if self_entry is not None else 0
    return bias, phdrs


def _r_debug(core: CoreFile) -> int | None:
    found = _exe_bias_and_phdrs(core)
    if found is None:
        return None
    bias, phdrs = found
    dynamic = next((p for p in phdrs if p[0] == SegmentType.DYNAMIC), None)
    if dynamic is None:
        return None
    data = core.read(bias + dynamic[3], min(dynamic[5], 1 << 16))
    if data is None:
        return None
    tag: int
    value: int
    for tag, value in _DYN.iter_unpack(data[:len(data) - len(data) % _DYN.size]):
        if tag == DT_NULL:
            break
        if tag == DT_DEBUG:
            return value
    return None


def _string(core: CoreFile, address: int) -> str:
    if not address:
        return ""
    data = b""
    while len(data) < MAX_NAME:
        chunk = core.read(address + len(data), 64) or core.read(address + len(data), 1)
        if chunk is None:
            break
        data += chunk
        if b"\0" in chunk:
            break
    return os.fsdecode(data.split(b"\0", 1)[0])


def executable_path(core: CoreFile) -> str | None:
    """The executable's name as execve got it (AT_EXECFN's string in the dumped stack)."""
    execfn = core.auxv.get(AT_EXECFN)
    return _string(core, execfn) or None if execfn else None


def resolve_name(name: str, exe: str | None) -> str:
    """An absolute name as is; a relative one against the executable's directory when the file is there."""
    if os.path.isabs(name) or exe is None:
        return name
    candidate = os.path.join(os.path.dirname(os.path.abspath(exe)), name)
    return candidate if os.path.isfile(candidate) else name


def object_mappings(path: str, bias: int) -> list[Mapping]:
    """The mappings ld.so made of `path` at `bias`: one per PT_LOAD, page-aligned; [] if unreadable."""
    try:
        elf = ElfFile(path)
        loads = elf.load_segments
    except (UnwindError, OSError):
        return []
    out = []
    for seg in loads:
        start = (bias + seg.vaddr) & -PAGE
        end = (bias + seg.vaddr + seg.memsz + PAGE - 1) & -PAGE
        prot = (1 if seg.flags & PF_R else 0) | (2 if seg.flags & PF_W else 0) | (4 if seg.flags & PF_X else 0)
        out.append(Mapping(start, end, seg.offset & -PAGE, path, elf.build_id, prot))
    return out


def link_map_mappings(core: CoreFile, exe: str | None, known: list[Mapping]) -> list[Mapping]:
    """Mappings of the executable (when `exe` is given or AT_EXECFN names a file) and of every link_map
    object that no `known` mapping already covers."""
    out: list[Mapping] = []
    taken = {m.path for m in known}
    exe = exe or executable_path(core)
    found = _exe_bias_and_phdrs(core)
    objects = ([(found[0], exe)] if found is not None and exe else []) + [
        (addr, resolve_name(name, exe)) for addr, name in link_map_entries(core)]
    for bias, path in objects:
        if path in taken or not os.path.isfile(path):
            continue
        taken.add(path)
        for mapping in object_mappings(path, bias):
            if not any(m.start < mapping.end and mapping.start < m.end for m in known):
                out.append(mapping)
    return out
