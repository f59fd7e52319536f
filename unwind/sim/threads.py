"""Threads of the emulated process: clone/clone3 with CLONE_THREAD, futex wait/wake, and a round-robin switch.

One unicorn CPU runs one thread at a time; a switch saves its registers (uc.context_save) and its own
shadow stack, LBR and block-hook state, so truth and LBR stay per thread. Switches happen between
emu_start calls only: at each sampling step (round robin), when a thread blocks in futex, or exits.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from unicorn.x86_const import UC_X86_REG_FS_BASE, UC_X86_REG_RAX, UC_X86_REG_RIP, UC_X86_REG_RSP

from .lbr import LbrModel
from .shadow import ShadowStack

if TYPE_CHECKING:
    from .fastuc import Context
    from .machine import Block, Process

CLONE_VM, CLONE_THREAD, CLONE_SETTLS = 0x100, 0x10000, 0x80000
CLONE_PARENT_SETTID, CLONE_CHILD_CLEARTID, CLONE_CHILD_SETTID = 0x100000, 0x200000, 0x1000000
SYSCALL_LEN = 2  # the clone child resumes after the syscall instruction
MASK64 = (1 << 64) - 1
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
    context: Context | None = None  # its registers while switched out
    state: ThreadState = ThreadState.RUNNING
    mask: int = 0
    clear_tid: int = 0
    wait_addr: int = 0
    wait_timed: bool = False
    result: int | None = None  # rax to deliver when it runs again (futex wait outcome)
    prev: Block | None = None  # the block hook's state while switched out
    skip: bool = True


def new_thread(tid: int, lbr_template: LbrModel) -> Thread:
    return Thread(tid, ShadowStack(), LbrModel(lbr_template.depth, lbr_template.mode))


def spawn(proc: Process, flags: int, stack: int, parent_tid: int, child_tid: int, tls: int) -> int:
    """clone/clone3 of a thread (CLONE_VM | CLONE_THREAD); other kinds of clone are not emulated."""
    if flags & (CLONE_VM | CLONE_THREAD) != CLONE_VM | CLONE_THREAD:
        proc.note_unsupported(f"clone flags {flags:#x} (fork/vfork)")
        return -38
    tid = max(proc.threads) + 1
    child = new_thread(tid, proc.lbr)
    ctx = proc.uc.context_save()
    ctx.reg_write(UC_X86_REG_RAX, 0)
    ctx.reg_write(UC_X86_REG_RSP, stack)
    ctx.reg_write(UC_X86_REG_RIP, proc.pc + SYSCALL_LEN)
    if flags & CLONE_SETTLS:
        ctx.reg_write(UC_X86_REG_FS_BASE, tls)
    child.context, child.mask = ctx, proc.signals.mask
    if flags & CLONE_PARENT_SETTID:
        proc.uc.mem_write(parent_tid, struct.pack("<I", tid))
    if flags & CLONE_CHILD_SETTID:
        proc.uc.mem_write(child_tid, struct.pack("<I", tid))
    if flags & CLONE_CHILD_CLEARTID:
        child.clear_tid = child_tid
    proc.threads[tid] = child
    proc.spawned.append((tid, proc.icount))
    return tid


def futex_wait(proc: Process, address: int, expected: int, timed: bool) -> int:
    """FUTEX_WAIT: block the running thread unless the word changed; the step ends so another thread runs."""
    if struct.unpack("<I", proc.uc.mem_read(address, 4))[0] != expected & 0xFFFFFFFF:
        return -11  # EAGAIN
    cur = proc.current
    cur.state, cur.wait_addr, cur.wait_timed, cur.result = ThreadState.WAITING, address, timed, 0
    proc._switch = True
    proc.uc.emu_stop()
    return 0


def futex_wake(proc: Process, address: int, count: int) -> int:
    """FUTEX_WAKE: make up to `count` waiters on `address` runnable (lowest tid first); returns how many."""
    woken = 0
    for tid in sorted(proc.threads):
        t = proc.threads[tid]
        if woken < count and t.state is ThreadState.WAITING and t.wait_addr == address:
            t.state, t.result = ThreadState.RUNNING, 0
            woken += 1
    return woken


def thread_exit(proc: Process, status: int) -> None:
    """exit(): the last thread's exit ends the process; others clear their tid word and wake its joiner."""
    others = [t for t in proc.threads.values() if t is not proc.current and t.state is not ThreadState.EXITED]
    if not others:
        proc.finish(status)
        return
    cur = proc.current
    cur.state = ThreadState.EXITED
    if cur.clear_tid:
        proc.uc.mem_write(cur.clear_tid, bytes(4))
        futex_wake(proc, cur.clear_tid, 1 << 30)
    proc._switch = True
    proc.uc.emu_stop()


def schedule(proc: Process, rotate: bool) -> None:
    """Switch to the next runnable thread (round robin when `rotate`, or when the current one cannot run)."""
    cur = proc.current
    runnable = [tid for tid in sorted(proc.threads) if proc.threads[tid].state is ThreadState.RUNNING]
    if not runnable:
        timed = [t for t in proc.threads.values() if t.state is ThreadState.WAITING and t.wait_timed]
        for t in timed:
            t.state, t.result = ThreadState.RUNNING, -110  # ETIMEDOUT
        runnable = sorted(t.tid for t in timed)
        if not runnable:
            proc.report.fault = "deadlock: every thread waits on a futex"
            proc.finish(128 + 6, 6)
            return
    if cur.state is ThreadState.RUNNING and not (rotate and len(runnable) > 1):
        return
    nxt = proc.threads[next((tid for tid in runnable if tid > cur.tid), runnable[0])]
    if nxt is cur:
        return
    if cur.state is not ThreadState.EXITED:
        cur.context = proc.uc.context_save()
    cur.prev, cur.skip, cur.mask = proc._prev, proc._skip, proc.signals.mask
    # A runnable thread other than the running one was switched out or spawned: its registers are saved.
    assert nxt.context is not None, f"thread {nxt.tid} has no saved registers"
    proc.uc.context_restore(nxt.context)
    if nxt.result is not None:
        proc.uc.reg_write(UC_X86_REG_RAX, nxt.result & MASK64)
        nxt.result = None
    proc.current, proc.shadow, proc.lbr = nxt, nxt.shadow, nxt.lbr
    proc._prev, proc._skip, proc.signals.mask = nxt.prev, True, nxt.mask
