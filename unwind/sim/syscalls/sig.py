"""Signal system calls: dispositions, mask, alternate stack, sigreturn, and kill/tkill/tgkill to the process itself."""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING

from ..signals import KSIGACTION, MINSIGSTKSZ, SI_TKILL, SI_USER, SS_AUTODISARM, SS_DISABLE, SS_ONSTACK, SigAction
from . import c_int, signed64, syscall

if TYPE_CHECKING:
    from ..machine import Process


@syscall(13, "rt_sigaction")
def sys_rt_sigaction(proc: Process, signo: int, act: int, oldact: int, size: int, *_: int) -> int:
    if not 1 <= signo <= 64 or signo in (9, 19) and act:
        return -errno.EINVAL
    current = proc.signals.action(signo)
    if oldact:
        proc.uc.mem_write(oldact, KSIGACTION.pack(current.handler, current.flags, current.restorer, current.mask))
    if act:
        handler, flags, restorer, mask = KSIGACTION.unpack(proc.uc.mem_read(act, KSIGACTION.size))
        proc.signals.actions[signo] = SigAction(handler, flags, restorer, mask)
    return 0


@syscall(14, "rt_sigprocmask")
def sys_rt_sigprocmask(proc: Process, how: int, new: int, old: int, size: int, *_: int) -> int:
    state = proc.signals
    if old:
        proc.uc.mem_write(old, struct.pack("<Q", state.mask))
    if new:
        (value,) = struct.unpack("<Q", proc.uc.mem_read(new, 8))
        if how == 0:
            state.mask |= value
        elif how == 1:
            state.mask &= ~value
        elif how == 2:
            state.mask = value
        else:
            return -errno.EINVAL
        state.mask &= ~((1 << 8) | (1 << 18))  # SIGKILL and SIGSTOP cannot be blocked
    return 0


@syscall(131, "sigaltstack")
def sys_sigaltstack(proc: Process, new: int, old: int, *_: int) -> int:
    state = proc.signals
    on_alt = state.on_altstack(proc.sp)
    if old:
        ss_sp, flags, ss_size = state.altstack
        shown = flags | (SS_DISABLE if not ss_size else SS_ONSTACK if on_alt else 0)
        proc.uc.mem_write(old, struct.pack("<Qi4xQ", ss_sp, c_int(shown), ss_size))
    if new:
        ss_sp, flags, ss_size = struct.unpack("<QI4xQ", proc.uc.mem_read(new, 24))
        if on_alt:
            return -errno.EPERM
        if flags & SS_DISABLE:
            state.altstack = (0, 0, 0)
        elif flags & ~(SS_AUTODISARM | SS_ONSTACK):
            return -errno.EINVAL
        elif ss_size < MINSIGSTKSZ:
            return -errno.ENOMEM
        else:
            state.altstack = (ss_sp, flags & SS_AUTODISARM, ss_size)
    return 0


@syscall(15, "rt_sigreturn")
def sys_rt_sigreturn(proc: Process, *_: int) -> int:
    return proc.sigreturn()


def _send(proc: Process, target: int, signo: int, code: int) -> int:
    if target not in (proc.pid, 0) and target not in proc.threads:
        return -errno.ESRCH
    if signo == 0:
        return 0
    if not 1 <= signo <= 64:
        return -errno.EINVAL
    proc.signals.pending.append((signo, code))
    return 0


@syscall(62, "kill")
def sys_kill(proc: Process, pid: int, signo: int, *_: int) -> int:
    return _send(proc, signed64(pid) if pid >> 63 else pid, signo, SI_USER)


@syscall(200, "tkill")
def sys_tkill(proc: Process, tid: int, signo: int, *_: int) -> int:
    return _send(proc, tid, signo, SI_TKILL)


@syscall(234, "tgkill")
def sys_tgkill(proc: Process, tgid: int, tid: int, signo: int, *_: int) -> int:
    return _send(proc, tid, signo, SI_TKILL)
