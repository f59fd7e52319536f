"""Signal state and delivery with the kernel's x86-64 rt_sigframe layout (arch/x86/kernel/signal.c)."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from unicorn.x86_const import (UC_X86_REG_EFLAGS, UC_X86_REG_MXCSR, UC_X86_REG_R8, UC_X86_REG_R9, UC_X86_REG_R10,
                               UC_X86_REG_R11, UC_X86_REG_R12, UC_X86_REG_R13, UC_X86_REG_R14, UC_X86_REG_R15,
                               UC_X86_REG_RAX, UC_X86_REG_RBP, UC_X86_REG_RBX, UC_X86_REG_RCX, UC_X86_REG_RDI,
                               UC_X86_REG_RDX, UC_X86_REG_RIP, UC_X86_REG_RSI, UC_X86_REG_RSP, UC_X86_REG_XMM0)

if TYPE_CHECKING:
    from .fastuc import Emulator

SIGKILL, SIGSTOP, SIGCHLD, SIGCONT, SIGURG, SIGWINCH = 9, 19, 17, 18, 23, 28
SIG_DFL, SIG_IGN = 0, 1
SA_SIGINFO, SA_ONSTACK, SA_RESTORER, SA_NODEFER, SA_RESETHAND = 0x4, 0x08000000, 0x04000000, 0x40000000, 0x80000000
SS_ONSTACK, SS_DISABLE, SS_AUTODISARM = 1, 2, 1 << 31
MINSIGSTKSZ = 2048
SI_USER, SI_TKILL = 0, -6
UC_SIGCONTEXT_SS, UC_STRICT_RESTORE_SS = 0x2, 0x4
IGNORED_BY_DEFAULT = {SIGCHLD, SIGCONT, SIGURG, SIGWINCH}

# struct sigcontext general registers, in order (r8 ... r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags).
SIGCONTEXT_REGS: tuple[int, ...] = (
    UC_X86_REG_R8, UC_X86_REG_R9, UC_X86_REG_R10, UC_X86_REG_R11, UC_X86_REG_R12, UC_X86_REG_R13, UC_X86_REG_R14,
    UC_X86_REG_R15, UC_X86_REG_RDI, UC_X86_REG_RSI, UC_X86_REG_RBP, UC_X86_REG_RBX, UC_X86_REG_RDX, UC_X86_REG_RAX,
    UC_X86_REG_RCX, UC_X86_REG_RSP, UC_X86_REG_RIP, UC_X86_REG_EFLAGS)
KSIGACTION = struct.Struct("<QQQQ")  # handler, flags, restorer, mask
SIGINFO_HEAD = struct.Struct("<iiiiii")  # si_signo, si_errno, si_code, pad, si_pid, si_uid
UC_HEAD = struct.Struct("<QQQI4xQ")  # uc_flags, uc_link, ss_sp, ss_flags, ss_size
SIGCONTEXT_TAIL = struct.Struct("<HHHHQQQQQ64x")  # cs gs fs ss, err trapno oldmask cr2 fpstate, reserved1[8]
FXSAVE_SIZE = 512
FRAME_SIZE = 8 + 304 + 128  # pretcode + struct ucontext + struct siginfo
UC_OFFSET, MCONTEXT_OFFSET, SIGMASK_OFFSET, SIGINFO_OFFSET = 8, 48, 304, 312
RIP_SLOT_OFFSET = MCONTEXT_OFFSET + 16 * 8  # where sigcontext.rip sits inside the frame


@dataclass(slots=True)
class SigAction:
    handler: int = SIG_DFL
    flags: int = 0
    restorer: int = 0
    mask: int = 0


@dataclass(slots=True)
class SignalState:
    """Per-process dispositions, the thread's mask, pending set and alternate stack."""

    actions: dict[int, SigAction] = field(default_factory=dict)
    mask: int = 0
    pending: list[tuple[int, int]] = field(default_factory=list)  # (signo, si_code)
    altstack: tuple[int, int, int] = (0, 0, 0)  # ss_sp, flags as set (0 or SS_AUTODISARM), ss_size; size 0 = none

    def action(self, signo: int) -> SigAction:
        return self.actions.setdefault(signo, SigAction())

    def on_altstack(self, sp: int) -> bool:
        ss_sp, _flags, ss_size = self.altstack
        return ss_size != 0 and ss_sp < sp <= ss_sp + ss_size

    def next_deliverable(self) -> tuple[int, int] | None:
        for i, (signo, _code) in enumerate(self.pending):
            if not self.mask & (1 << (signo - 1)) or signo in (SIGKILL, SIGSTOP):
                return self.pending.pop(i)
        return None


def build_frame(uc: Emulator, state: SignalState, signo: int, code: int, pid: int,
                resume_pc: int) -> tuple[int, SigAction]:
    """Write an rt_sigframe for `signo` below the current rsp (or on the alternate stack); return its address.

    The interrupted state saved is the current registers with rip = `resume_pc`.
    """
    act = state.action(signo)
    regs = [uc.reg_read(r) for r in SIGCONTEXT_REGS]
    regs[16] = resume_pc
    sp = regs[15]
    ss_sp, ss_flags, ss_size = state.altstack
    if act.flags & SA_ONSTACK and ss_size and not state.on_altstack(sp):
        sp = ss_sp + ss_size
    else:
        sp -= 128  # the red zone
    sp = (sp - FXSAVE_SIZE) & ~63
    fpstate = sp
    fx = bytearray(FXSAVE_SIZE)
    struct.pack_into("<H", fx, 0, 0x37F)
    struct.pack_into("<I", fx, 24, uc.reg_read(UC_X86_REG_MXCSR))
    for i in range(16):
        value = uc.reg_read(UC_X86_REG_XMM0 + i)
        fx[160 + 16 * i:176 + 16 * i] = value.to_bytes(16, "little")
    frame = ((sp - FRAME_SIZE) & ~15) - 8
    blob = bytearray(FRAME_SIZE)
    struct.pack_into("<Q", blob, 0, act.restorer)
    # __save_altstack stores the flags as set (not SS_ONSTACK/SS_DISABLE, which only sigaltstack() reports)
    UC_HEAD.pack_into(blob, UC_OFFSET, UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS, 0, ss_sp, ss_flags, ss_size)
    struct.pack_into("<18Q", blob, MCONTEXT_OFFSET, *regs)
    SIGCONTEXT_TAIL.pack_into(blob, MCONTEXT_OFFSET + 18 * 8, 0x33, 0, 0, 0x2B, 0, 0, state.mask, 0, fpstate)
    struct.pack_into("<Q", blob, SIGMASK_OFFSET, state.mask)
    SIGINFO_HEAD.pack_into(blob, SIGINFO_OFFSET, signo, 0, code, 0, pid, 0)
    uc.mem_write(fpstate, bytes(fx))
    uc.mem_write(frame, bytes(blob))
    if ss_flags & SS_AUTODISARM and state.on_altstack(frame):
        state.altstack = (0, 0, 0)  # re-armed by rt_sigreturn from uc_stack
    return frame, act


def restore_frame(uc: Emulator, state: SignalState) -> int:
    """rt_sigreturn: reload registers, mask and xmm state from the frame at rsp - 8; return the new rip."""
    frame = uc.reg_read(UC_X86_REG_RSP) - 8
    blob = bytes(uc.mem_read(frame, FRAME_SIZE))
    regs: tuple[int, ...] = struct.unpack_from("<18Q", blob, MCONTEXT_OFFSET)
    head: tuple[int, int, int, int, int] = UC_HEAD.unpack_from(blob, UC_OFFSET)
    _uc_flags, _link, ss_sp, ss_flags, ss_size = head
    if not state.on_altstack(regs[15]):  # restore_altstack(): what the handler may have changed in uc_stack
        state.altstack = (ss_sp, ss_flags & SS_AUTODISARM, ss_size) if ss_size and not ss_flags & SS_DISABLE \
            else (0, 0, 0)
    fpstate: int = SIGCONTEXT_TAIL.unpack_from(blob, MCONTEXT_OFFSET + 18 * 8)[8]
    state.mask = struct.unpack_from("<Q", blob, SIGMASK_OFFSET)[0] & ~((1 << (SIGKILL - 1)) | (1 << (SIGSTOP - 1)))
    if fpstate:
        fx = bytes(uc.mem_read(fpstate, FXSAVE_SIZE))
        uc.reg_write(UC_X86_REG_MXCSR, struct.unpack_from("<I", fx, 24)[0])
        for i in range(16):
            uc.reg_write(UC_X86_REG_XMM0 + i, int.from_bytes(fx[160 + 16 * i:176 + 16 * i], "little"))
    for reg, value in zip(SIGCONTEXT_REGS[:16], regs[:16]):
        uc.reg_write(reg, value)
    uc.reg_write(UC_X86_REG_EFLAGS, regs[17])
    return regs[16]
