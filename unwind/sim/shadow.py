"""Ground truth: a shadow call stack kept from executed calls and signal deliveries, trimmed by the stack pointer.

Each entry is (slot, value, kind): `slot` is the stack address holding the return address (or, for a
signal, the saved rip inside the signal frame). An entry is live while slot >= rsp; calls, rets,
longjmp, C++ exception landing and sigreturn all end an entry by moving rsp above its slot, so one
rule covers them without decoding where the program jumped.
"""

from __future__ import annotations

from enum import IntEnum


class EntryKind(IntEnum):
    """Why an address is on the shadow stack."""

    CALL = 0  # a return address pushed by a call instruction
    SIGNAL_RETURN = 1  # pretcode of a kernel rt_sigframe: the handler "returns" into sa_restorer
    INTERRUPTED = 2  # the pc a signal interrupted: an instruction pointer, not a return address


class ShadowStack:
    """Live return addresses of the emulated thread, outermost first."""

    __slots__ = ("slots", "values", "kinds", "max_depth")

    def __init__(self) -> None:
        self.slots: list[int] = []
        self.values: list[int] = []
        self.kinds: list[int] = []
        self.max_depth = 0

    def __len__(self) -> int:
        return len(self.slots)

    def push(self, slot: int, value: int, kind: int = EntryKind.CALL) -> None:
        """Record a new live entry; anything at or below its slot is dead (that stack space was reused)."""
        slots = self.slots
        while slots and slots[-1] <= slot:
            slots.pop()
            self.values.pop()
            self.kinds.pop()
        slots.append(slot)
        self.values.append(value)
        self.kinds.append(kind)
        if len(slots) > self.max_depth:
            self.max_depth = len(slots)

    def trim(self, sp: int) -> None:
        """Drop entries whose slot is below the stack pointer: their frames have been left."""
        slots = self.slots
        while slots and slots[-1] < sp:
            slots.pop()
            self.values.pop()
            self.kinds.pop()

    def truth(self, pc: int, sp: int) -> tuple[int, ...]:
        """The exact call stack at (pc, sp): pc, then every live return address, outermost last."""
        self.trim(sp)
        return (pc, *reversed(self.values))

    def truth_kinds(self, sp: int) -> tuple[int, ...]:
        """Kinds of the entries `truth` returns after the pc, innermost first."""
        self.trim(sp)
        return tuple(reversed(self.kinds))
