"""What every cache reports: `CacheStats` (hits, misses, entries held, bound), as `Session.cache_stats()` lists them.

The caches themselves are plain objects owned by whoever uses them (the Session, a Symbolizer, an
unwinder, a simulated Process), bounded (cachetools LRUs, or `LRU` below where a warm `unwind symbolize`
would otherwise import cachetools); each counts its own hits and misses.
"""

# Annotations are evaluated at import (no `from __future__ import annotations`): typing compiles the
# string annotation of every NamedTuple field, ~0.5 M instructions each (NOTES.md, issue 16).

from collections import OrderedDict
from typing import Generic, NamedTuple, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class CacheStats(NamedTuple):
    """One cache's counters since it was made: `size` entries held now, at most `maxsize`."""

    hits: int
    misses: int
    size: int
    maxsize: int


class LRU(Generic[K, V]):
    """A map of at most `maxsize` entries that drops the least recently used one: what cachetools.LRUCache
    does on get and set, on an OrderedDict.  The Symbolizer's and the Demangler's caches use it, so a warm
    `unwind symbolize` does not import cachetools (~8 M instructions, with random and heapq: 3 % of a
    3000-address run)."""

    __slots__ = ("maxsize", "_data")

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._data: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        """The value of `key` (now the most recently used), None when absent."""
        data = self._data
        if key in data:
            data.move_to_end(key)
            return data[key]
        return None

    def __getitem__(self, key: K) -> V:
        data = self._data
        value = data[key]
        data.move_to_end(key)
        return value

    def __setitem__(self, key: K, value: V) -> None:
        data = self._data
        if key in data:
            data.move_to_end(key)
        data[key] = value
        if len(data) > self.maxsize:
            data.popitem(last=False)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)


__all__ = ["CacheStats", "LRU"]
