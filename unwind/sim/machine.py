"""One emulated Linux process under unicorn: loading, system calls, signals, shadow stack and LBR hooks.

Speed: one Python hook per executed basic block (decoded once with capstone and cached by
address), one per system call, none per instruction. The block hook looks at how the previous
block ended: after a call it pushes the return address on the shadow stack and the LBR.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from dataclasses import dataclass, field
from enum import IntEnum

import capstone
from unicorn import UC_ARCH_X86, UC_HOOK_CODE, UC_HOOK_INSN, UC_MODE_64, Uc, UcError
from unicorn.x86_const import (UC_X86_INS_SYSCALL, UC_X86_REG_R8, UC_X86_REG_R9,
                               UC_X86_REG_R10, UC_X86_REG_RAX, UC_X86_REG_RBX, UC_X86_REG_RCX, UC_X86_REG_RDI,
                               UC_X86_REG_RDX, UC_X86_REG_RIP, UC_X86_REG_RSI, UC_X86_REG_RSP)

from .fastuc import Emulator, RawBlockHook, RegReader
from .files import FileHandle, HostFiles
from .lbr import LbrModel
from .loader import load_program
from .memory import AddressSpace
from .shadow import EntryKind, ShadowStack
from .threads import Thread, schedule
from .signals import (IGNORED_BY_DEFAULT, RIP_SLOT_OFFSET, SA_NODEFER, SA_RESETHAND, SIG_DFL, SIG_IGN,
                      SIGINFO_OFFSET, UC_OFFSET, SigAction, SignalState, build_frame, restore_frame)
from .syscalls import TABLE

SYSCALL_LEN = 2  # unicorn adds this to rip after the syscall hook returns, even when the hook set rip
MASK64 = (1 << 64) - 1


class Exit(IntEnum):
    """How the block ended: what the next block's start tells us about the branch."""

    OTHER = 0
    CALL = 1
    RET = 2
    JMP = 3
    JCC = 4
    SYSCALL = 5
    IJMP = 6  # indirect jmp: longjmp and PLT stubs; rsp may have moved up
    ICALL = 7  # indirect call (through a register or memory)


@dataclass(frozen=True, slots=True)
class Block:
    """A translated basic block: its instruction addresses and how it ends."""

    addr: int
    end: int
    kind: Exit
    last: int
    insns: frozenset[int]


def classify(mnemonic: str, operand: str) -> Exit:
    mnemonic = mnemonic.split()[-1] if mnemonic else ""
    if mnemonic == "call":
        return Exit.CALL if operand.startswith("0x") else Exit.ICALL
    if mnemonic in ("ret", "retf"):
        return Exit.RET
    if mnemonic == "jmp":
        return Exit.JMP if operand.startswith("0x") else Exit.IJMP
    if mnemonic.startswith("j") or mnemonic.startswith("loop"):
        return Exit.JCC
    if mnemonic == "syscall":
        return Exit.SYSCALL
    return Exit.OTHER


@dataclass
class RunReport:
    """What happened: exit status, killing signal, fault, unsupported system calls."""

    exit_code: int | None = None
    signal: int | None = None
    fault: str | None = None
    unsupported: Counter[str] = field(default_factory=Counter)


class Process:
    """A Linux process running `binary` under unicorn (threads share the one emulated CPU, see threads.py)."""

    def __init__(self, binary: str, argv: list[str] | None = None, env: list[str] | None = None,
                 sysroot: str | None = None, seed: int = 0, lbr: LbrModel | None = None, pid: int = 4242,
                 track: bool = True, stdin: bytes = b"", vdso: bool = False, exec_path: str | None = None) -> None:
        """`exec_path`: the path the program sees as its own (argv[0], AT_EXECFN, /proc/self/exe, its
        mapping), so that runs do not depend on where the file happens to live."""
        self.uc: Emulator = Uc(UC_ARCH_X86, UC_MODE_64)
        uc = self.uc
        self.space = AddressSpace(uc)
        self._blocks: dict[int, Block] = {}
        self._tsc_hooks: dict[int, int] = {}
        self._tsc = 10**12
        self.space.on_change = self._code_changed
        self.sysroot = sysroot
        self.files = HostFiles(sysroot)  # the host files this process opens, each read once
        self.pid = pid
        self.rng = random.Random(seed)
        self.fds: dict[int, FileHandle] = {}
        self.opened: list[str] = []
        self.output = {1: bytearray(), 2: bytearray()}
        self.stdin = FileHandle("pipe:[stdin]", bytes(stdin), False, 100, None)  # read to the end, then EOF
        self.signals = SignalState()
        self.unsupported: Counter[str] = Counter()
        self.exited = False
        self.report = RunReport(unsupported=self.unsupported)
        self.shadow = ShadowStack()
        self.lbr = lbr if lbr is not None else LbrModel()
        self.icount = 0
        self.threads: dict[int, Thread] = {pid: Thread(pid, self.shadow, self.lbr)}
        self.current = self.threads[pid]
        self.spawned: list[tuple[int, int]] = []  # (tid, icount when created), for perf FORK records
        self._switch = False
        self._clock = 1_700_000_000 * 10**9
        self._redirect: int | None = None
        self._prev: Block | None = None
        self._skip = False
        self._cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
        self.exe_path = exec_path or os.path.realpath(binary)
        argv = [exec_path or binary] + list(argv or [])
        env = list(env) if env is not None else ["LC_ALL=C"]
        # vdso=True maps this host's vDSO (AT_SYSINFO_EHDR): realistic [vdso] frames, but runs then depend on the host
        program = load_program(self.space, binary, argv, env, self._cpuid_edx(), sysroot,
                               bytes(self.rng.getrandbits(8) for _ in range(16)), vdso, exec_path)
        self.program = program
        self.brk_start = self.brk = program.brk
        uc.reg_write(UC_X86_REG_RSP, program.sp)
        uc.reg_write(UC_X86_REG_RIP, program.entry)
        self.comm = os.path.basename(binary)[:15]
        self._reg = RegReader(uc)
        # track=False runs without the shadow stack and LBR (no truth): the emulator's own speed, for bench/sim.py
        self._block_hook = RawBlockHook(uc, self._on_block) if track else None
        uc.hook_add(UC_HOOK_INSN, self._on_syscall, None, 1, 0, UC_X86_INS_SYSCALL)

    # ---- helpers for system calls ---------------------------------------------------

    def _cpuid_edx(self) -> int:
        scratch = 0x10000
        self.uc.mem_map(scratch, 0x1000)
        self.uc.mem_write(scratch, b"\x0f\xa2")  # cpuid
        self.uc.reg_write(UC_X86_REG_RAX, 1)
        self.uc.emu_start(scratch, scratch + 2)
        edx = self.uc.reg_read(UC_X86_REG_RDX)
        self.uc.mem_unmap(scratch, 0x1000)
        for reg in (UC_X86_REG_RAX, UC_X86_REG_RBX, UC_X86_REG_RCX, UC_X86_REG_RDX):
            self.uc.reg_write(reg, 0)  # Linux starts a process with every general register zero
        return edx

    def new_fd(self, handle: FileHandle) -> int:
        fd = 3
        while fd in self.fds:
            fd += 1
        self.fds[fd] = handle
        return fd

    def note_unsupported(self, what: str) -> None:
        self.unsupported[what] += 1

    def clock_ns(self) -> int:
        self._clock += 1000
        return self._clock + self.icount

    def finish(self, status: int, signal: int | None = None) -> None:
        self.exited = True
        self.report.exit_code = status
        self.report.signal = signal
        self.uc.emu_stop()

    def sigreturn(self) -> int:
        rip = restore_frame(self.uc, self.signals)
        self.shadow.trim(self.sp)
        self._redirect = rip
        return self.uc.reg_read(UC_X86_REG_RAX)

    @property
    def pc(self) -> int:
        return self.uc.reg_read(UC_X86_REG_RIP)

    @property
    def sp(self) -> int:
        return self.uc.reg_read(UC_X86_REG_RSP)

    # ---- hooks ----------------------------------------------------------------------

    def _code_changed(self, start: int, end: int) -> None:
        """Mapped bytes were replaced: decoded blocks there are stale (dlclose + dlopen, JIT)."""
        for addr in [a for a in self._blocks if start <= a < end]:
            del self._blocks[addr]
        for addr in [a for a in self._tsc_hooks if start <= a < end]:
            self.uc.hook_del(self._tsc_hooks.pop(addr))

    def _decode(self, addr: int, size: int) -> Block:
        try:
            code = bytes(self.uc.mem_read(addr, size))
        except UcError:  # a block hook can precede the fetch fault it is about to raise
            return Block(addr, addr + size, Exit.OTHER, addr, frozenset((addr,)))
        insns: list[tuple[int, int, str, str]] = list(self._cs.disasm_lite(code, addr))  # address, size, mnemonic, ops
        if not insns:
            return Block(addr, addr + size, Exit.OTHER, addr, frozenset((addr,)))
        last = insns[-1]
        block = Block(addr, addr + size, classify(last[2], last[3]), last[0], frozenset(i[0] for i in insns))
        self._blocks[addr] = block
        for insn in insns:
            if insn[2] in ("rdtsc", "rdtscp") and insn[0] not in self._tsc_hooks:
                self._tsc_hooks[insn[0]] = self.uc.hook_add(UC_HOOK_CODE, self._on_rdtsc, insn[2] == "rdtscp",
                                                            insn[0], insn[0])
        return block

    def _on_rdtsc(self, uc: Emulator, addr: int, size: int, is_rdtscp: bool) -> None:
        """rdtsc/rdtscp read the host TSC in unicorn: answer from a counter instead, so runs repeat exactly."""
        self._tsc += 1000
        uc.reg_write(UC_X86_REG_RAX, self._tsc & 0xFFFFFFFF)
        uc.reg_write(UC_X86_REG_RDX, self._tsc >> 32)
        if is_rdtscp:
            uc.reg_write(UC_X86_REG_RCX, 0)  # IA32_TSC_AUX: cpu 0
        self._skip = True  # the jump below restarts translation mid-block: no branch happened
        uc.reg_write(UC_X86_REG_RIP, addr + size)

    def _on_block(self, addr: int, size: int) -> None:
        prev = self._prev
        if self._skip:
            self._skip = False
        elif prev is not None and prev.kind:
            kind = prev.kind
            if kind == 1 or kind == 7:  # Exit.CALL / ICALL spelled out: the hottest line of the emulator
                self.shadow.push(self._reg(UC_X86_REG_RSP), prev.end)
                self.lbr.call(prev.last, addr, kind == 7)
            elif kind == 2:
                self.shadow.trim(self._reg(UC_X86_REG_RSP))
                self.lbr.ret(prev.last, addr)
            else:
                self._branch(prev, addr)
        block = self._blocks.get(addr)
        if block is None or block.end != addr + size:
            block = self._decode(addr, size)
        self._prev = block

    def _branch(self, prev: Block, target: int) -> None:
        """The previous block's last instruction ran and control reached `target`."""
        kind = prev.kind
        if kind == Exit.CALL or kind == Exit.ICALL:
            self.shadow.push(self.uc.reg_read(UC_X86_REG_RSP), prev.end)
            self.lbr.call(prev.last, target, kind == Exit.ICALL)
        elif kind == Exit.RET:
            self.shadow.trim(self.uc.reg_read(UC_X86_REG_RSP))
            self.lbr.ret(prev.last, target)
        elif kind == Exit.JMP:
            self.lbr.jump(prev.last, target, False)
        elif kind == Exit.IJMP:
            self.shadow.trim(self.uc.reg_read(UC_X86_REG_RSP))
            self.lbr.jump(prev.last, target, False)
        elif kind == Exit.JCC and target != prev.end:
            self.lbr.jump(prev.last, target, True)

    def _on_syscall(self, uc: Emulator, _data: object) -> None:
        number = uc.reg_read(UC_X86_REG_RAX)
        args = [uc.reg_read(r) for r in (UC_X86_REG_RDI, UC_X86_REG_RSI, UC_X86_REG_RDX, UC_X86_REG_R10,
                                         UC_X86_REG_R8, UC_X86_REG_R9)]
        entry = TABLE.get(number)
        if entry is None:
            self.note_unsupported(f"syscall {number}")
            result = -38  # ENOSYS
        else:
            try:
                result = entry[1](self, *args)
            except UcError:
                result = -14  # EFAULT: a pointer argument into unmapped memory, as the kernel answers
        if self.exited:
            return
        uc.reg_write(UC_X86_REG_RAX, result & MASK64)
        resume = self.pc + SYSCALL_LEN
        if self._redirect is not None:
            resume, self._redirect = self._redirect, None
            uc.reg_write(UC_X86_REG_RIP, resume - SYSCALL_LEN)
        pending = self.signals.next_deliverable()
        if pending is not None:
            self._deliver(pending[0], pending[1], resume)

    def _deliver(self, signo: int, code: int, resume: int) -> None:
        act = self.signals.action(signo)
        if act.handler == SIG_IGN or (act.handler == SIG_DFL and signo in IGNORED_BY_DEFAULT):
            return
        if act.handler == SIG_DFL:
            self.finish(128 + signo, signo)
            return
        self.shadow.trim(self.sp)
        frame, act = build_frame(self.uc, self.signals, signo, code, self.pid, resume)
        self.shadow.push(frame + RIP_SLOT_OFFSET, resume, EntryKind.INTERRUPTED)
        self.shadow.push(frame, act.restorer, EntryKind.SIGNAL_RETURN)
        self.signals.mask |= act.mask | (0 if act.flags & SA_NODEFER else 1 << (signo - 1))
        if act.flags & SA_RESETHAND:
            self.signals.actions[signo] = SigAction()
        uc = self.uc
        uc.reg_write(UC_X86_REG_RDI, signo)
        uc.reg_write(UC_X86_REG_RSI, frame + SIGINFO_OFFSET)
        uc.reg_write(UC_X86_REG_RDX, frame + UC_OFFSET)
        uc.reg_write(UC_X86_REG_RAX, 0)
        uc.reg_write(UC_X86_REG_RSP, frame)
        uc.reg_write(UC_X86_REG_RIP, act.handler - SYSCALL_LEN)

    # ---- threads --------------------------------------------------------------------

    @property
    def tid(self) -> int:
        return self.current.tid

    # ---- running --------------------------------------------------------------------

    def _settle(self) -> None:
        """After a stop: if the current block's last instruction already ran, account for its branch now."""
        prev, pc = self._prev, self.pc
        if prev is not None and prev.kind and pc not in prev.insns:
            self._branch(prev, pc)
        self._skip = True

    def step(self, count: int) -> bool:
        """Run up to `count` instructions; False once the process has ended (exit, fatal signal or fault)."""
        if self.exited:
            return False
        if len(self.threads) > 1:
            schedule(self, rotate=True)
        try:
            self.uc.emu_start(self.pc, 0, 0, count)
        except UcError as exc:
            self.report.fault = f"{exc} at {self.pc:#x}"
            self.finish(128 + 11, 11)
        if self._block_hook is not None:
            self._block_hook.check()
        self.icount += count
        if self.exited:
            return False
        self._settle()
        if self._switch:  # a futex wait or a thread exit ended the step early
            self._switch = False
            schedule(self, rotate=False)
        return not self.exited

    def run_to(self, address: int, limit: int = 50_000_000) -> bool:
        """Run until rip == `address` (before that instruction executes); False if the process ended first."""
        hit = [False]

        def stop(uc: Emulator, addr: int, size: int, _data: object) -> None:
            hit[0] = True
            uc.emu_stop()

        handle = self.uc.hook_add(UC_HOOK_CODE, stop, None, address, address)
        try:
            if self.pc == address:
                self.step(1)
            while not hit[0] and not self.exited and limit > 0:
                self.step(min(limit, 1_000_000))
                limit -= 1_000_000
        finally:
            self.uc.hook_del(handle)
        return hit[0] and not self.exited

    def run(self, chunk: int = 10_000_000, limit: int | None = None) -> RunReport:
        """Run to the end, or until `limit` instructions have run (report.exit_code stays None then)."""
        while self.step(chunk if limit is None else min(chunk, limit - self.icount)):
            if limit is not None and self.icount >= limit:
                break
        return self.report

    def stdout(self) -> bytes:
        return bytes(self.output[1])
