"""Process, identity, limits, time and randomness system calls: deterministic answers for a single thread."""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING

from ..threads import (CLONE_ARGS, FUTEX_CMD_MASK, FUTEX_WAIT, FUTEX_WAIT_BITSET, FUTEX_WAKE, FUTEX_WAKE_BITSET,
                       futex_wait, futex_wake, spawn, thread_exit)
from . import INT_MAX, RLIM_INFINITY, SYSINFO, syscall, user_buffer

if TYPE_CHECKING:
    from ..machine import Process


@syscall(60, "exit")
def sys_exit(proc: Process, status: int, *_: int) -> int:
    thread_exit(proc, status & 0xFF)  # one thread; the process ends with its last thread
    return 0


@syscall(231, "exit_group")
def sys_exit_group(proc: Process, status: int, *_: int) -> int:
    proc.finish(status & 0xFF)
    return 0


@syscall(39, "getpid")
def sys_getpid(proc: Process, *_: int) -> int:
    return proc.pid


@syscall(186, "gettid")
def sys_gettid(proc: Process, *_: int) -> int:
    return proc.tid


@syscall(110, "getppid")
def sys_getppid(proc: Process, *_: int) -> int:
    return 1


for _number, _name in ((102, "getuid"), (104, "getgid"), (107, "geteuid"), (108, "getegid")):
    syscall(_number, _name)(lambda proc, *_: 0)


@syscall(218, "set_tid_address")
def sys_set_tid_address(proc: Process, address: int, *_: int) -> int:
    proc.current.clear_tid = address
    return proc.tid


@syscall(273, "set_robust_list")
def sys_set_robust_list(proc: Process, *_: int) -> int:
    return 0


@syscall(334, "rseq")
def sys_rseq(proc: Process, *_: int) -> int:
    return -errno.ENOSYS  # glibc then runs without restartable sequences


@syscall(302, "prlimit64")
def sys_prlimit64(proc: Process, pid: int, resource: int, new: int, old: int, *_: int) -> int:
    if old:
        limit = (8 << 20, RLIM_INFINITY) if resource == 3 else (RLIM_INFINITY, RLIM_INFINITY)
        proc.uc.mem_write(old, struct.pack("<QQ", *limit))
    return 0


@syscall(97, "getrlimit")
def sys_getrlimit(proc: Process, resource: int, old: int, *_: int) -> int:
    return sys_prlimit64(proc, 0, resource, 0, old)


@syscall(63, "uname")
def sys_uname(proc: Process, buf: int, *_: int) -> int:
    fields = (b"Linux", b"unwind-sim", b"6.1.0", b"#1 SMP PREEMPT_DYNAMIC", b"x86_64", b"(none)")
    proc.uc.mem_write(buf, b"".join(f.ljust(65, b"\0") for f in fields))
    return 0


@syscall(318, "getrandom")
def sys_getrandom(proc: Process, buf: int, count: int, *_: int) -> int:
    count = min(count, INT_MAX)  # as the kernel caps it
    if not user_buffer(proc, buf, count):
        return -errno.EFAULT
    proc.uc.mem_write(buf, proc.rng.randbytes(count))
    return count


@syscall(228, "clock_gettime")
def sys_clock_gettime(proc: Process, clock: int, ts: int, *_: int) -> int:
    ns = proc.clock_ns()
    proc.uc.mem_write(ts, struct.pack("<qq", ns // 10**9, ns % 10**9))
    return 0


@syscall(96, "gettimeofday")
def sys_gettimeofday(proc: Process, tv: int, *_: int) -> int:
    ns = proc.clock_ns()
    if tv:
        proc.uc.mem_write(tv, struct.pack("<qq", ns // 10**9, ns % 10**9 // 1000))
    return 0


@syscall(201, "time")
def sys_time(proc: Process, tloc: int, *_: int) -> int:
    seconds = proc.clock_ns() // 10**9
    if tloc:
        proc.uc.mem_write(tloc, struct.pack("<q", seconds))
    return seconds


@syscall(202, "futex")
def sys_futex(proc: Process, address: int, op: int, value: int, timeout: int, *_: int) -> int:
    cmd = op & FUTEX_CMD_MASK
    if cmd in (FUTEX_WAIT, FUTEX_WAIT_BITSET):
        return futex_wait(proc, address, value, timeout != 0)
    if cmd in (FUTEX_WAKE, FUTEX_WAKE_BITSET):
        return futex_wake(proc, address, value)
    proc.note_unsupported(f"futex op {op:#x}")
    return -errno.ENOSYS


@syscall(56, "clone")
def sys_clone(proc: Process, flags: int, stack: int, parent_tid: int, child_tid: int, tls: int, *_: int) -> int:
    return spawn(proc, flags, stack, parent_tid, child_tid, tls)


@syscall(435, "clone3")
def sys_clone3(proc: Process, args: int, size: int, *_: int) -> int:
    if size < 64:
        return -errno.EINVAL
    fields = CLONE_ARGS.unpack(bytes(proc.uc.mem_read(args, min(size, CLONE_ARGS.size))).ljust(CLONE_ARGS.size, b"\0"))
    flags, _pidfd, child_tid, parent_tid, _exit_signal, stack, stack_size, tls = fields[:8]
    return spawn(proc, flags, stack + stack_size, parent_tid, child_tid, tls)


@syscall(204, "sched_getaffinity")
def sys_sched_getaffinity(proc: Process, pid: int, size: int, mask: int, *_: int) -> int:
    proc.uc.mem_write(mask, b"\x01" + bytes(7))
    return 8


@syscall(99, "sysinfo")
def sys_sysinfo(proc: Process, buf: int, *_: int) -> int:
    ram = 1 << 30  # 1 GiB, all free: qsort asks before choosing merge sort
    proc.uc.mem_write(buf, SYSINFO.pack(proc.icount // 10**9, 0, 0, 0, ram, ram, 0, 0, 0, 0, 1, 0, 0, 0, 1))
    return 0


@syscall(24, "sched_yield")
def sys_sched_yield(proc: Process, *_: int) -> int:
    return 0
