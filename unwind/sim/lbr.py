"""A model of Intel's Last Branch Record stack as perf samples it (branch_stack, newest entry first)."""

from __future__ import annotations

from collections import deque
from enum import Enum, IntEnum

from ..errors import UsageError
from ..model import BranchEntry

DEPTHS = (4, 8, 16, 32)


class LbrMode(str, Enum):
    """call_stack: calls push, returns pop (LBR_CALL_STACK); any: the last N taken branches."""

    CALL_STACK = "call_stack"
    ANY = "any"


class BranchKind(IntEnum):
    """perf_branch_entry.type (PERF_BR_*), stored at bits 20-23 of the flags word as perf does."""

    COND = 1
    UNCOND = 2
    IND = 3
    CALL = 4
    IND_CALL = 5
    RET = 6

    @property
    def flags(self) -> int:
        return self.value << TYPE_SHIFT


TYPE_SHIFT = 20
# Plain ints for the hot path (an enum property per call costs more than the rest of the hook).
_CALL, _IND_CALL, _RET = BranchKind.CALL.flags, BranchKind.IND_CALL.flags, BranchKind.RET.flags
_COND, _UNCOND = BranchKind.COND.flags, BranchKind.UNCOND.flags


class LbrModel:
    """The LBR registers of one CPU: user-mode branches only (the emulator runs nothing else)."""

    __slots__ = ("depth", "mode", "entries")

    def __init__(self, depth: int = 32, mode: LbrMode | str = LbrMode.CALL_STACK):
        if depth not in DEPTHS:
            raise UsageError(f"LBR depth must be one of {DEPTHS}, not {depth}")
        self.depth = depth
        self.mode = LbrMode(mode)
        self.entries: deque[BranchEntry] = deque(maxlen=depth)

    def call(self, source: int, target: int, indirect: bool = False) -> None:
        """A taken call: pushed in both modes; the oldest entry falls off when the buffer is full."""
        self.entries.append(BranchEntry(source, target, _IND_CALL if indirect else _CALL))

    def ret(self, source: int, target: int) -> None:
        """A return: pops the newest call in call-stack mode (nothing when empty), is recorded in any mode."""
        if self.mode is LbrMode.CALL_STACK:
            if self.entries:
                self.entries.pop()
        else:
            self.entries.append(BranchEntry(source, target, _RET))

    def jump(self, source: int, target: int, conditional: bool) -> None:
        """Any other taken branch: only recorded when every branch is (any mode)."""
        if self.mode is LbrMode.ANY:
            self.entries.append(BranchEntry(source, target, _COND if conditional else _UNCOND))

    def snapshot(self) -> tuple[BranchEntry, ...]:
        """The buffer as perf reports it: newest first."""
        return tuple(reversed(self.entries))
