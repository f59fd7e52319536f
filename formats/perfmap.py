"""perf map files (`/tmp/perf-PID.map`): JIT code ranges and their names, one `START SIZE NAME` line each.

Read as perf 6.1's `dso__load_perf_map` (tools/perf/util/symbol.c) reads them: the last character of
every line is dropped as its newline; START and SIZE are parsed by `strtoull(…, 16)` (leading blanks,
a sign and a `0x`/`0X` prefix accepted, as V8, the JDK's `jcmd Compiler.perfmap` and
`-XX:+DumpPerfMapAtExit`, LuaJIT and CPython 3.12 write them); each number is followed by exactly
one separator character; a line with fewer than two characters left after a number is skipped; the
name is the rest of the line, spaces included.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

_HEX = re.compile(rb"[ \t\n\v\f\r]*([+-]?)(?:0[xX](?=[0-9a-fA-F]))?([0-9a-fA-F]*)")
_U64 = (1 << 64) - 1
MAX_OVERLAP = 64  # entries looked back at for an address (later JIT code may reuse a range)


@dataclass(frozen=True, slots=True)
class PerfMapEntry:
    start: int
    size: int
    name: str
    line: int  # 1-based line number in the file

    @property
    def end(self) -> int:
        return self.start + self.size


def strtoull16(text: bytes, pos: int) -> tuple[int, int]:
    """(value, characters consumed) as C's strtoull(text + pos, &end, 16); (0, 0) when no digits."""
    match = _HEX.match(text, pos)
    if match is None or not match.group(2):
        return 0, 0
    value = int(match.group(2), 16)
    if value > _U64:
        value = _U64  # ERANGE: strtoull saturates
    elif match.group(1) == b"-":
        value = -value & _U64
    return value, match.end() - pos


def parse_perf_map(data: bytes) -> list[PerfMapEntry]:
    """Every entry perf would load, in file order."""
    pieces = data.split(b"\n")
    lines = pieces[:-1]  # each had its newline, which perf drops
    if pieces[-1]:
        lines.append(pieces[-1][:-1])  # no newline at the end: perf drops the last character all the same
    entries = []
    for number, line in enumerate(lines, 1):
        entries.extend(_entry(line, number))
    return entries


def _entry(line: bytes, number: int) -> list[PerfMapEntry]:
    n = len(line)
    start, used = strtoull16(line, 0)
    pos = used + 1
    if pos + 2 >= n:
        return []
    size, used = strtoull16(line, pos)
    pos += used + 1
    if pos + 2 >= n:
        return []
    return [PerfMapEntry(start, size, line[pos:].decode("utf-8", "replace"), number)]


class PerfMap:
    """Address -> entry over one map file: the innermost (latest-starting, then latest-written) entry covering
    the address; a zero-size entry covers its start only, as perf's symbols__find."""

    __slots__ = ("_entries", "_starts")

    def __init__(self, entries: list[PerfMapEntry]):
        self._entries = sorted(entries, key=lambda e: e.start)  # stable: file order among equal starts
        self._starts = [e.start for e in self._entries]

    def __len__(self) -> int:
        return len(self._entries)

    def find(self, address: int) -> PerfMapEntry | None:
        i = bisect_right(self._starts, address) - 1
        for j in range(i, max(i - MAX_OVERLAP, -1), -1):
            e = self._entries[j]
            if address < e.end or address == e.start:
                return e
        return None


__all__ = ["PerfMap", "PerfMapEntry", "parse_perf_map", "strtoull16"]
