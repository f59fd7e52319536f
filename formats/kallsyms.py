"""/proc/kallsyms and System.map as flat sorted arrays, with symbol+offset+module lookup the way perf does it.

Each line is `address type name[\\tmodule]`. Like perf (util/symbol.c, 6.1) the table keeps types
T/W/D/B by default and sizes each symbol up to the next one, except at a kernel/module boundary
and for the last symbol, which end at roundup(start, page) + page. perf runs symbols__fixup_end
before symbols__fixup_duplicate, so of several symbols at one address only the last listed has
a non-zero size and choose_best_symbol keeps it: the last alias wins. Addresses all zero mean
kptr_restrict hid them: `restricted`.
"""

# Annotations are evaluated at import (no `from __future__ import annotations`): typing compiles the
# string annotation of every NamedTuple field, ~0.5 M instructions each (NOTES.md, issue 16).

import bisect
import os
import re
from array import array
from collections.abc import Sequence
from typing import NamedTuple

from .errors import FormatError
from .files import read_file

PERF_TYPES = frozenset("TWDB")
PAGE = 4096
# Patterns, compiled (and cached by `re`) on first parse: a warm run reads the cached index instead.
_HEX = r"^[0-9a-fA-F]{1,16}$"
_LINE = r"^([0-9a-fA-F]{1,16}) (\S) (\S+)(?:\t\[([^\]\n]*)\])?$"


class KernelSymbol(NamedTuple):
    """One lookup answer: symbol name, offset of the address into it, its size and module (None = vmlinux)."""

    name: str
    offset: int
    size: int
    module: str | None
    type: str


class KernelSymbols:
    """Sorted, de-duplicated symbol starts and ends with their names, types and modules (a plain class:
    a frozen dataclass costs ~4 M instructions to generate on every run that names kernel frames)."""

    __slots__ = ("starts", "ends", "names", "types", "modules", "restricted", "path")

    def __init__(self, starts: Sequence[int], ends: Sequence[int], names: Sequence[str], types: str,
                 modules: Sequence[str | None], restricted: bool = False, path: str | None = None) -> None:
        self.starts, self.ends, self.names, self.types, self.modules = starts, ends, names, types, modules
        self.restricted, self.path = restricted, path

    def _key(self) -> tuple[object, ...]:
        return self.starts, self.ends, self.names, self.types, self.modules, self.restricted, self.path

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KernelSymbols) and self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]  # arrays inside: unhashable, as the dataclass was

    def __repr__(self) -> str:
        return f"KernelSymbols({len(self.names)} symbols, restricted={self.restricted}, path={self.path!r})"

    def __len__(self) -> int:
        return len(self.names)

    def lookup(self, address: int) -> KernelSymbol | None:
        """The symbol covering `address`, or None (outside every symbol, or addresses restricted)."""
        if self.restricted:
            return None
        i = bisect.bisect_right(self.starts, address) - 1
        if i < 0 or address >= self.ends[i]:
            return None
        return KernelSymbol(self.names[i], address - self.starts[i], self.ends[i] - self.starts[i], self.modules[i],
                            self.types[i])

    def address_of(self, name: str) -> int | None:
        """Start address of a symbol by name (first match), as bpftrace's resolve_kname does."""
        return self.starts[self.names.index(name)] if name in self.names else None

    def module_names(self) -> list[str]:
        return sorted({m for m in self.modules if m})


Entry = tuple[int, str, str, str | None]  # (address, type, name, module)


def _entries_fast(text: str, types: frozenset[str] | None) -> tuple[list[Entry], int, bool] | None:
    """One regex pass when every line has the canonical shape; None sends odd input to the line-by-line reader."""
    matches = re.findall(_LINE, text, re.M)
    lines = text.splitlines()
    if len(matches) != len(lines) - lines.count(""):
        return None
    entries = [
        (int(address, 16), kind, name, module or None)
        for address, kind, name, module in matches
        if types is None or kind.upper() in types
    ]
    all_zero = not any(int(m[0], 16) for m in matches)
    return entries, len(matches), all_zero


def parse_kallsyms(text: str, path: str | None = None, types: frozenset[str] | None = PERF_TYPES) -> KernelSymbols:
    """Parse kallsyms / System.map text; `types` keeps only those symbol types (case-insensitive; None keeps all)."""
    fast = _entries_fast(text, types)
    if fast is not None:
        return _table(*fast, path)
    entries: list[tuple[int, str, str, str | None]] = []
    all_zero, seen = True, 0
    offset = 0
    for lineno, line in enumerate(text.split("\n"), 1):
        start, offset = offset, offset + len(line) + 1
        if not line.strip():
            continue
        head, _, module = line.partition("\t")
        fields = head.split()
        if len(fields) != 3 or len(fields[1]) != 1:
            raise FormatError(f"line {lineno}: expected 'address type name'", path, start)
        if not re.match(_HEX, fields[0]):
            raise FormatError(f"line {lineno}: bad address {fields[0][:20]!r}", path, start)
        address = int(fields[0], 16)
        seen += 1
        all_zero &= address == 0
        kind = fields[1]
        if types is not None and kind.upper() not in types:
            continue
        module = module.strip()
        if module.startswith("[") and module.endswith("]"):
            module = module[1:-1]
        entries.append((address, kind, fields[2], module or None))
    return _table(entries, seen, all_zero, path)


def _table(entries: list[Entry], seen: int, all_zero: bool, path: str | None) -> KernelSymbols:
    """Sort, drop aliases and size the symbols (see the module docstring)."""
    if seen and all_zero:
        return KernelSymbols(array("Q"), array("Q"), (), "", (), restricted=True, path=path)
    entries.sort(key=lambda e: e[0])
    kept: list[tuple[int, str, str, str | None]] = []
    for entry in entries:
        if kept and kept[-1][0] == entry[0] and kept[-1][3] == entry[3]:
            kept[-1] = entry  # the last alias listed wins (see the module docstring)
        else:
            kept.append(entry)
    starts = array("Q", (e[0] for e in kept))
    ends = array("Q", starts)
    for i in range(len(kept)):
        same_side = i + 1 < len(kept) and (kept[i][3] is None) == (kept[i + 1][3] is None)
        # perf: up to the next symbol; at a vmlinux/module boundary or at the end, roundup(start, page) + page.
        ends[i] = kept[i + 1][0] if same_side else min(-(-kept[i][0] // PAGE) * PAGE + PAGE, 2**64 - 1)
    return KernelSymbols(
        starts, ends, tuple(e[2] for e in kept), "".join(e[1] for e in kept), tuple(e[3] for e in kept), path=path
    )


def load_kallsyms(path: str | os.PathLike[str] = "/proc/kallsyms",
                  types: frozenset[str] | None = PERF_TYPES) -> KernelSymbols:
    """Read and parse a kallsyms or System.map file."""
    text = read_file(os.fspath(path)).decode("utf-8", "replace")
    return parse_kallsyms(text, str(path), types)
