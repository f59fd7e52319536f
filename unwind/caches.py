"""What every cache reports: `CacheStats` (hits, misses, entries held, bound), as `Session.cache_stats()` lists them.

The caches themselves are plain objects owned by whoever uses them (the Session, a Symbolizer, an
unwinder, a simulated Process), bounded (cachetools LRUs); each counts its own hits and misses.
"""

# Annotations are evaluated at import (no `from __future__ import annotations`): typing compiles the
# string annotation of every NamedTuple field, ~0.5 M instructions each (NOTES.md, issue 16).

from typing import NamedTuple


class CacheStats(NamedTuple):
    """One cache's counters since it was made: `size` entries held now, at most `maxsize`."""

    hits: int
    misses: int
    size: int
    maxsize: int


__all__ = ["CacheStats"]
