"""Every system call handler answers hostile arguments (sizes and addresses up to 2^64 - 1, unknown bits)
with a value for rax, as the kernel does (EFAULT, EINVAL, EBADF, a capped count): explicit range checks,
no exception but unicorn's UcError for an unmapped pointer (which the machine answers EFAULT). A
handler that raised anything else would be a bug, and the run would stop on it."""

from __future__ import annotations

import struct

import pytest
from unicorn import UcError
from unicorn.x86_const import UC_X86_REG_RSP

from conftest import ROOT
from unwind.sim.machine import Process
from unwind.sim.syscalls import TABLE

PROGRAM = ROOT / "corpus" / "bin" / "recursion-glibc-static-O2-nofp"
LEAVE = {"exit", "exit_group", "rt_sigreturn"}  # end the process or return to a signal frame
HOSTILE = (0, 1, 0xFFFFFFFF, 1 << 31, 1 << 40, 1 << 47, 1 << 63, (1 << 64) - 4096, (1 << 64) - 1)


@pytest.fixture
def process():  # each test its own: the hostile calls unmap and remap the program's memory
    if not PROGRAM.exists():
        pytest.skip("corpus not built (python corpus/build.py)")
    return Process(str(PROGRAM), ["20"])


def _answer(process: Process, name: str, args: list[int]) -> int | None:
    handler = next(h for n, h in TABLE.values() if n == name)
    try:
        result = handler(process, *args)
    except UcError:
        return None  # EFAULT
    finally:
        process.exited = False
    assert isinstance(result, int), (name, args, result)
    return result


def test_every_handler_answers_hostile_arguments(process):
    sp = process.uc.reg_read(UC_X86_REG_RSP) - 0x1000
    bases = ([3, sp, 16, 0, 0, 0], [1, sp, 16, 0, 0, 0], [sp, 16, 0, 0, 0, 0], [1, sp, 1, sp, 0, 0],
             [0, 4096, 3, 0x22, (1 << 32) - 1, 0], [0, 4096, 3, 2, 3, 0])
    for name in sorted({n for n, _ in TABLE.values()} - LEAVE):
        for base in bases:
            for position in range(6):
                for value in HOSTILE:
                    args = list(base)
                    args[position] = value
                    _answer(process, name, args)


def test_sizes_past_the_mapped_memory_answer_efault(process):
    sp = process.uc.reg_read(UC_X86_REG_RSP) - 0x1000
    for count in (1 << 40, (1 << 64) - 1):
        assert _answer(process, "write", [1, sp, count, 0, 0, 0]) == -14
        assert _answer(process, "getrandom", [sp, count, 0, 0, 0, 0]) == -14
    process.uc.mem_write(sp, struct.pack("<QQ", sp + 64, (1 << 64) - 1))  # one iovec, length 2^64 - 1
    assert _answer(process, "writev", [1, sp, 1, 0, 0, 0]) == -14
    assert _answer(process, "getrandom", [sp, 16, 0, 0, 0, 0]) == 16
    assert _answer(process, "mmap", [0, 4096, (1 << 64) - 1, 0x22, (1 << 32) - 1, 0]) > 0  # unknown prot bits
