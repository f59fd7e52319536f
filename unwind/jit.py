"""Names of JIT code: perf map files (`/tmp/perf-PID.map`, under --symfs first), as perf script shows them.

perf names every anonymous executable mapping of process PID `/tmp/perf-PID.map` (in the process's
own pid namespace) and looks its addresses up in that file, whether or not the file exists.
"""

from __future__ import annotations

import os

from cachetools import LRUCache

from formats.perfmap import PerfMap, PerfMapEntry, parse_perf_map

MAP_DIR = "/tmp"
MAX_MAP_BYTES = 1 << 30  # a perf map larger than this is not read (bounded memory on hostile input)


def perf_map_path(pid: int) -> str:
    """The name perf gives the JIT code of `pid`: its dso name and the file it reads."""
    return f"{MAP_DIR}/perf-{pid}.map"


class JitSymbols:
    """pid -> its perf map, read once (bounded LRU); owned by the caller, like every cache."""

    def __init__(self, symfs: str | None = None, cache_size: int = 16):
        self.symfs = symfs
        self._maps: LRUCache[int, PerfMap | None] = LRUCache(cache_size)

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
