"""Stop the threads of a live process with ptrace and read their registers (ctypes on libc, x86-64 Linux).

`stopped_threads(pid)` seizes every thread (`PTRACE_SEIZE`, which sends no signal), stops it with
`PTRACE_INTERRUPT`, waits for the stop, reads `PTRACE_GETREGS`, and always detaches again, also when
the caller fails. If our process dies instead, the kernel detaches every tracee on our exit
(`exit_ptrace`) and the threads run on. A signal that arrived while a thread was held is handed back
to it on detach, so nothing the target was sent is lost.
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .errors import UnwindError
from .model import Reg, Registers

PTRACE_GETREGS = 12
PTRACE_DETACH = 17
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
PTRACE_EVENT_STOP = 128
WALL = 0x40000000  # __WALL: wait for threads (clone children) too
STOP_TIMEOUT = 5.0  # seconds a thread may take to reach the interrupt stop (uninterruptible sleep)
GROUP_STOP_SIGNALS = frozenset({signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU})
MAX_ROUNDS = 16  # re-reads of /proc/PID/task while threads keep appearing

# struct user_regs_struct (sys/user.h), in order.
USER_REGS = ("r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx", "rdx", "rsi",
             "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base", "gs_base", "ds", "es", "fs", "gs")
_DWARF = {name: int(Reg[name.upper()]) for name in USER_REGS if name.upper() in Reg.__members__}


class _UserRegs(ctypes.Structure):
    _fields_ = [(name, ctypes.c_ulonglong) for name in USER_REGS]


class ProcessError(UnwindError):
    """The process cannot be examined: it does not exist, exited, is a zombie, or we may not trace it."""


@dataclass(frozen=True, slots=True)
class StoppedThread:
    """One thread held in a ptrace stop: its id and DWARF-numbered registers."""

    tid: int
    registers: Registers


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = (ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p)
    libc.ptrace.restype = ctypes.c_long
    return libc


class Tracer:
    """The ptrace requests we make, each raising OSError with errno on failure."""

    def __init__(self) -> None:
        self.libc = _libc()

    def _call(self, request: int, tid: int, addr: int | None = None, data: object = None) -> int:
        ctypes.set_errno(0)
        result: int = self.libc.ptrace(request, tid, addr, data)
        if result == -1:
            code = ctypes.get_errno()
            if code:
                raise OSError(code, os.strerror(code))
        return result

    def seize(self, tid: int) -> None:
        self._call(PTRACE_SEIZE, tid, None, None)

    def interrupt(self, tid: int) -> None:
        self._call(PTRACE_INTERRUPT, tid, None, None)

    def detach(self, tid: int, signal_number: int = 0) -> None:
        self._call(PTRACE_DETACH, tid, None, signal_number or None)

    def registers(self, tid: int) -> Registers:
        regs = _UserRegs()
        self._call(PTRACE_GETREGS, tid, None, ctypes.addressof(regs))
        return Registers({number: getattr(regs, name) for name, number in _DWARF.items()})


def wait_stop(tid: int, timeout: float = STOP_TIMEOUT) -> int | None:
    """Wait until the seized, interrupted thread stops; the signal to hand back on detach (0 for none),
    or None when the thread exited, or did not stop within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    delay = 0.0005
    while True:
        try:
            got, status = os.waitpid(tid, WALL | os.WNOHANG)
        except ChildProcessError:
            return None
        if got == tid:
            if not os.WIFSTOPPED(status):
                return None  # exited or killed
            sig = os.WSTOPSIG(status)
            if status >> 16 == PTRACE_EVENT_STOP:  # our interrupt, or a group stop seen through it
                return 0
            return sig  # a signal-delivery stop: the signal is the thread's, give it back on detach
        if time.monotonic() > deadline:
            return None
        time.sleep(delay)
        delay = min(delay * 2, 0.02)


def thread_ids(pid: int) -> list[int]:
    """The thread ids of `pid`, in /proc's order (the main thread first), as eu-stack lists them."""
    try:
        return [int(name) for name in os.listdir(f"/proc/{pid}/task") if name.isdigit()]
    except FileNotFoundError:
        raise ProcessError(f"no process with PID {pid}") from None
    except PermissionError as exc:
        raise ProcessError(f"PID {pid}: {exc.strerror}") from None


def process_state(pid: int) -> str:
    """The one-letter state of /proc/PID/stat ('R', 'S', 'Z', 't', ...)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise ProcessError(f"no process with PID {pid}") from None
    except ProcessLookupError:
        raise ProcessError(f"process {pid} exited") from None
    return text[text.rindex(b")") + 2:][:1].decode()


@contextmanager
def stopped_threads(pid: int, tracer: Tracer | None = None) -> Iterator[list[StoppedThread]]:
    """Every live thread of `pid` held stopped, with its registers, for the duration of the block."""
    if pid <= 0:
        raise ProcessError(f"no process with PID {pid}")
    if pid == os.getpid():
        raise ProcessError(f"PID {pid} is this process; it cannot trace itself")
    if process_state(pid) in ("Z", "X"):
        raise ProcessError(f"process {pid} is a zombie (it exited; its parent has not reaped it)")
    tracer = tracer or Tracer()
    held: dict[int, int] = {}  # tid -> signal to hand back on detach
    seized: list[int] = []
    denied: OSError | None = None
    try:
        for _round in range(MAX_ROUNDS):
            new = [tid for tid in thread_ids(pid) if tid not in held and tid not in seized]
            if not new:
                break
            for tid in new:
                try:
                    tracer.seize(tid)
                except OSError as exc:
                    if exc.errno == errno.EPERM:
                        denied = exc  # a zombie thread, or not ours to trace
                    continue  # ESRCH: the thread exited meanwhile
                seized.append(tid)
                try:
                    tracer.interrupt(tid)
                except OSError:
                    continue
                stop = wait_stop(tid)
                if stop is not None:
                    held[tid] = stop
        threads = []
        for tid in seized:
            if tid in held:
                try:
                    threads.append(StoppedThread(tid, tracer.registers(tid)))
                except OSError:
                    continue  # killed while held
        if not threads:
            if denied is not None:
                raise ProcessError(f"PID {pid}: cannot trace it: {denied.strerror}")
            raise ProcessError(f"process {pid} exited")
        yield threads
    finally:
        for tid in seized:
            try:
                tracer.detach(tid, held.get(tid, 0))
            except OSError:
                continue  # gone, or never stopped (then the kernel detaches it when we exit)


__all__ = ["ProcessError", "StoppedThread", "Tracer", "process_state", "stopped_threads", "thread_ids", "wait_stop"]
