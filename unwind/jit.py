"""Names of JIT code: perf map files (`/tmp/perf-PID.map`, under --symfs first), as perf script shows them,
else the code-load records of the jitdump file (`jit-PID.dump`) the process mapped, as `perf inject --jit` reads.

perf names every anonymous executable mapping of process PID `/tmp/perf-PID.map` (in the process's
own pid namespace) and looks its addresses up in that file, whether or not the file exists.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from cachetools import LRUCache

from formats.errors import FormatError
from formats.jitdump import JitCode, parse_jitdump
from formats.perfmap import PerfMap, PerfMapEntry, parse_perf_map

from .model import Mapping

MAP_DIR = "/tmp"
MAX_MAP_BYTES = 1 << 30  # a perf map or jitdump larger than this is not read (bounded memory on hostile input)
_JITDUMP = re.compile(r"(?:^|/)jit-\d+\.dump$")


def perf_map_path(pid: int) -> str:
    """The name perf gives the JIT code of `pid`: its dso name and the file it reads."""
    return f"{MAP_DIR}/perf-{pid}.map"


class JitSymbols:
    """pid -> its perf map, read once (bounded LRU); owned by the caller, like every cache."""

    def __init__(self, symfs: str | None = None, cache_size: int = 16):
        self.symfs = symfs
        self._maps: LRUCache[int, PerfMap | None] = LRUCache(cache_size)
        # jitdump path -> its code loads as a PerfMap (entry `line` i + 1 is code load i) and the loads themselves
        self._dumps: LRUCache[str, tuple[PerfMap, tuple[JitCode, ...]] | None] = LRUCache(cache_size)

    def name(self, pid: int, address: int, mappings: Iterable[Mapping] = ()) -> tuple[str, str | None]:
        """(module, name) of JIT code at `address`: the perf map's entry, else a mapped jitdump's code load
        (module: the dump's path), else (the perf map's path, None) as perf prints it."""
        entry = self.find(pid, address)
        if entry is not None:
            return perf_map_path(pid), entry.name
        for mapping in mappings:
            if mapping.path and _JITDUMP.search(mapping.path):
                found = self._dump(mapping.path)
                hit = found[0].find(address) if found is not None else None
                if hit is not None:
                    return mapping.path, hit.name
        return perf_map_path(pid), None

    def code_at(self, pid: int, address: int, mappings: Iterable[Mapping] = ()) -> tuple[int, int, bytes] | None:
        """(start, size, machine code) of the JIT function holding `address`, for unwinding: a mapped
        jitdump's code load with its bytes, else the perf map's entry without them (b""), else None."""
        for mapping in mappings:
            if mapping.path and _JITDUMP.search(mapping.path):
                found = self._dump(mapping.path)
                hit = found[0].find(address) if found is not None else None
                if hit is not None and found is not None:
                    code = found[1][hit.line - 1]
                    return code.address, code.size, code.code
        entry = self.find(pid, address)
        return None if entry is None else (entry.start, entry.size, b"")

    def _dump(self, path: str) -> tuple[PerfMap, tuple[JitCode, ...]] | None:
        if path not in self._dumps:
            self._dumps[path] = None
            candidates = [os.path.join(self.symfs, path.lstrip("/"))] if self.symfs else []
            for candidate in [*candidates, path]:
                try:
                    if os.path.getsize(candidate) > MAX_MAP_BYTES:
                        continue
                    with open(candidate, "rb") as fh:
                        dump = parse_jitdump(fh.read(), candidate)
                except (OSError, FormatError):
                    continue
                self._dumps[path] = (PerfMap([PerfMapEntry(c.address, c.size, c.name, i + 1)
                                              for i, c in enumerate(dump.code)]), dump.code)
                break
        return self._dumps[path]

    def find(self, pid: int, address: int) -> PerfMapEntry | None:
        """The perf-map entry naming `address` of process `pid`, or None."""
        if pid not in self._maps:
            self._maps[pid] = self._load(pid)
        found = self._maps[pid]
        return found.find(address) if found is not None else None

    def _load(self, pid: int) -> PerfMap | None:
        path = perf_map_path(pid)
        candidates = [os.path.join(self.symfs, path.lstrip("/"))] if self.symfs else []
        candidates.append(path)
        for candidate in candidates:
            try:
                if os.path.getsize(candidate) > MAX_MAP_BYTES:
                    continue
                with open(candidate, "rb") as fh:
                    return PerfMap(parse_perf_map(fh.read()))
            except OSError:
                continue
        return None


__all__ = ["JitSymbols", "perf_map_path"]
