"""The emulated process address space: unicorn mappings plus the VMA list (path, offset) perf would report."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from ..model import Mapping, ModuleMap

if TYPE_CHECKING:
    from .fastuc import Emulator

PAGE = 0x1000
PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4

# Non-randomised Linux x86-64 layout (what gdb sees with ASLR off).
STACK_TOP = 0x7FFFFFFFF000
STACK_SIZE = 8 << 20
MMAP_BASE = 0x7FFFF7FFF000
PIE_BASE = 0x555555554000


def page_down(value: int) -> int:
    return value & ~(PAGE - 1)


def page_up(value: int) -> int:
    return (value + PAGE - 1) & ~(PAGE - 1)


@dataclass(frozen=True, slots=True)
class Vma:
    """One mapped range [start, end) and where its bytes came from."""

    start: int
    end: int
    perms: int
    path: str | None = None
    offset: int = 0
    build_id: bytes | None = None

    def clip(self, start: int, end: int) -> "Vma":
        """The part of this VMA inside [start, end), file offset adjusted."""
        lo, hi = max(start, self.start), min(end, self.end)
        return Vma(lo, hi, self.perms, self.path, self.offset + (lo - self.start) if self.path else 0, self.build_id)


class AddressSpace:
    """Keeps unicorn's memory and a sorted VMA list in step; mmap/munmap/mprotect semantics with splitting."""

    def __init__(self, uc: Emulator) -> None:
        self.uc = uc
        self.vmas: list[Vma] = []
        # called with (start, end) when mapped bytes are replaced or removed
        self.on_change: Callable[[int, int], None] | None = None

    # ---- queries --------------------------------------------------------------------

    def find(self, address: int) -> Vma | None:
        i = bisect.bisect_right([v.start for v in self.vmas], address) - 1
        if i >= 0 and address < self.vmas[i].end:
            return self.vmas[i]
        return None

    def is_mapped(self, start: int, end: int) -> bool:
        """Whether every byte of [start, end) is mapped (contiguous VMAs cover it)."""
        at = start
        while at < end:
            vma = self.find(at)
            if vma is None:
                return False
            at = vma.end
        return True

    def is_free(self, start: int, end: int) -> bool:
        return all(v.end <= start or v.start >= end for v in self.vmas)

    def module_map(self) -> ModuleMap:
        """Every VMA as the model's ModuleMap, as /proc/PID/maps lists them."""
        return ModuleMap(Mapping(v.start, v.end, v.offset, v.path, v.build_id) for v in self.vmas)

    # ---- changes --------------------------------------------------------------------

    def _remove(self, start: int, end: int) -> None:
        if self.on_change is not None and not self.is_free(start, end):
            self.on_change(start, end)
        kept: list[Vma] = []
        for v in self.vmas:
            if v.end <= start or v.start >= end:
                kept.append(v)
                continue
            self.uc.mem_unmap(max(v.start, start), min(v.end, end) - max(v.start, start))
            if v.start < start:
                kept.append(v.clip(v.start, start))
            if v.end > end:
                kept.append(v.clip(end, v.end))
        self.vmas = sorted(kept, key=lambda v: v.start)

    def map(self, start: int, size: int, perms: int, path: str | None = None, offset: int = 0,
            data: bytes = b"", build_id: bytes | None = None) -> int:
        """Map [start, start+size) (replacing what was there, as MAP_FIXED) and copy `data` to its start."""
        start, end = page_down(start), page_up(start + size)
        self._remove(start, end)
        self.uc.mem_map(start, end - start, perms)
        if data:
            self.uc.mem_write(start, bytes(data[: end - start]))
        bisect.insort(self.vmas, Vma(start, end, perms, path, offset, build_id), key=lambda v: v.start)
        return start

    def unmap(self, start: int, size: int) -> None:
        self._remove(page_down(start), page_up(start + size))

    def protect(self, start: int, size: int, perms: int) -> bool:
        """mprotect: False (ENOMEM) when part of the range is unmapped."""
        start, end = page_down(start), page_up(start + size)
        covered = sum(min(v.end, end) - max(v.start, start) for v in self.vmas if v.start < end and v.end > start)
        if covered != end - start:
            return False
        pieces: list[Vma] = []
        for v in self.vmas:
            if v.end <= start or v.start >= end:
                pieces.append(v)
                continue
            if v.start < start:
                pieces.append(v.clip(v.start, start))
            mid = v.clip(start, end)
            pieces.append(Vma(mid.start, mid.end, perms, mid.path, mid.offset, mid.build_id))
            if v.end > end:
                pieces.append(v.clip(end, v.end))
        self.uc.mem_protect(start, end - start, perms)
        self.vmas = sorted(pieces, key=lambda v: v.start)
        return True

    def find_free(self, size: int) -> int:
        """The highest free range of `size` bytes below the mmap base (Linux's top-down layout)."""
        size = page_up(size)
        top = MMAP_BASE
        while True:
            start = top - size
            clash = [v.start for v in self.vmas if v.start < top and v.end > start]
            if not clash:
                return start
            top = min(clash)
