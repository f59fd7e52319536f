"""/proc/PID/maps text as typed records."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import FormatError

_LINE = re.compile(r"^([0-9a-f]{1,16})-([0-9a-f]{1,16})\s+(\S{4})\s+([0-9a-f]{1,16})\s+\S+\s+\d+\s*(.*)$")


@dataclass(frozen=True, slots=True)
class MapsEntry:
    start: int
    end: int
    perms: str
    offset: int
    path: str  # "" for anonymous mappings; "[stack]", "[vdso]", ... as the kernel names them


def parse_maps(text: str, path: str | None = None) -> list[MapsEntry]:
    """Every line of a maps file; FormatError naming the line for anything else."""
    entries = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = _LINE.match(line)
        if match is None:
            raise FormatError(f"line {lineno} is not a /proc/PID/maps line: {line[:60]!r}", path)
        start, end, perms, offset, name = match.groups()
        entries.append(MapsEntry(int(start, 16), int(end, 16), perms, int(offset, 16), name.strip()))
    return entries
