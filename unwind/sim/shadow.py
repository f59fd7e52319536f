"""Ground truth: a shadow call stack kept from executed calls and signal deliveries, trimmed by the stack pointer.

Truth at an instruction boundary = (pc, then the value of every live entry, innermost first). An entry
is (slot, value, kind): a call pushes (rsp after the call, its return address); a signal delivery
pushes (&uc_mcontext.rip in the rt_sigframe, the interrupted pc) and then (the frame's pretcode slot,
sa_restorer). An entry is live while slot >= rsp. Rets, longjmp, exception landings and sigreturn
all move rsp above the slots they abandon, so one rule covers them; it is applied at every ret,
indirect jmp, signal delivery, sigreturn and sample, and a new entry drops older ones at or below
its slot (that stack space was reused). Tail calls (jmp) leave the caller's return address live.

Exception landings need nothing more: libgcc's eh_return jump sets rsp to the installed frame's own
stack pointer at its abandoned call, just above that call's slot, so the indirect-jmp trim leaves the
installed frame's return address innermost (checked at every landing pad, tests/unwind/sim/test_core.py).
Values are the pushed ones even where memory was rewritten: inside libgcc's context install, from
uw_install_context_1 to the jump, the installer's saved registers and return address already describe
the target frame (its registers, its abandoned call's return address), so unwinders that read memory
skip the frames being abandoned; the truth keeps them until the jump.
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
