"""Threads of the emulated process: clone/clone3 with CLONE_THREAD, futex wait/wake, and a round-robin switch.

One unicorn CPU runs one thread at a time; a switch saves its registers (uc.context_save) and its own
shadow stack, LBR and block-hook state, so truth and LBR stay per thread. Switches happen between
emu_start calls only: at each sampling step (round robin), when a thread blocks in futex, or exits.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import Enum

from .lbr import LbrModel
from .shadow import ShadowStack

CLONE_VM, CLONE_THREAD, CLONE_SETTLS = 0x100, 0x10000, 0x80000
CLONE_PARENT_SETTID, CLONE_CHILD_CLEARTID, CLONE_CHILD_SETTID = 0x100000, 0x200000, 0x1000000
CLONE_ARGS = struct.Struct("<11Q")  # struct clone_args (clone3), version 0..2
FUTEX_WAIT, FUTEX_WAKE, FUTEX_WAIT_BITSET, FUTEX_WAKE_BITSET = 0, 1, 9, 10
FUTEX_CMD_MASK = 0x7F  # without FUTEX_PRIVATE_FLAG and FUTEX_CLOCK_REALTIME


class ThreadState(Enum):
    RUNNING = "running"
    WAITING = "waiting"
    EXITED = "exited"


@dataclass(slots=True)
class Thread:
    """Everything the CPU does not hold for a thread that is not running."""

    tid: int
    shadow: ShadowStack
    lbr: LbrModel
    context: object = None  # unicorn UcContext while switched out
    state: ThreadState = ThreadState.RUNNING
    mask: int = 0
    clear_tid: int = 0
    wait_addr: int = 0
    wait_timed: bool = False
    result: int | None = None  # rax to deliver when it runs again (futex wait outcome)
    prev: object = None
    skip: bool = True
    extra: dict = field(default_factory=dict)


def new_thread(tid: int, lbr_template: LbrModel) -> Thread:
    return Thread(tid, ShadowStack(), LbrModel(lbr_template.depth, lbr_template.mode))
