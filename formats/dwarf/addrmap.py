"""LLVM 14's per-unit address -> innermost subroutine map (DWARFUnit::updateAddressDieMap), built the same way."""

from __future__ import annotations

from array import array
from bisect import bisect_right, insort


class AddressDieMap:
    """Sorted start -> (end, subroutine index), updated parent-before-child exactly as LLVM's std::map."""

    __slots__ = ("_keys", "_values")

    def __init__(self) -> None:
        self._keys: list[int] = []
        self._values: dict[int, tuple[int, int]] = {}

    def _set(self, key: int, value: tuple[int, int]) -> None:
        if key not in self._values:
            keys = self._keys
            if not keys or key > keys[-1]:
                keys.append(key)
            else:
                insort(keys, key)
        self._values[key] = value

    def add(self, low: int, high: int, which: int) -> None:
        """Insert one non-empty range of subroutine `which`, splitting the entry it lands in."""
        keys, values = self._keys, self._values
        i = bisect_right(keys, low)
        if i:
            start = keys[i - 1]
            end, owner = values[start]
            if low < end:
                if high < end:
                    self._set(high, (end, owner))
                if low > start:
                    values[start] = (low, owner)
        self._set(low, (high, which))

    def arrays(self) -> tuple[array[int], array[int], array[int]]:
        """(starts 'Q', ends 'Q', which 'i'), sorted by start."""
        values = self._values
        starts = array("Q", self._keys)
        ends = array("Q", (values[k][0] for k in self._keys))
        which = array("i", (values[k][1] for k in self._keys))
        return starts, ends, which


def lookup(starts: array[int], ends: array[int], which: array[int], address: int) -> int | None:
    """LLVM getSubroutineForAddress: the entry with the greatest start <= address, if address < its end."""
    i = bisect_right(starts, address)
    if i == 0:
        return None
    i -= 1
    if address >= ends[i]:
        return None
    return which[i]
