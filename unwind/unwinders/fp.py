"""The frame-pointer unwinder: the RBP chain, with capstone prologue/epilogue analysis for frame 0.

Every step is an `UnwindRule` run by `walk()` (framehop style): frame 0 and the frame a signal
interrupted get the rule `unwind.prologue.analyze` derives from the function's code; every
caller frame gets `cfa = rbp + 16, ra at cfa - 8, rbp at cfa - 16`, after sanity checks on rbp
(known, 8-byte aligned, inside the stack snapshot). A return address into the sigreturn
trampoline crosses the signal frame through the saved ucontext, as gdb does.
"""

from __future__ import annotations

from enum import Enum
from typing import Callable, Final

from cachetools import LRUCache

from formats.errors import UnwindError

from ..errors import MemoryReadError
from ..memory import AddressSpace, MemoryReader
from ..model import Frame, ModuleMap, Sample, Trace, Via
from ..modules import Module, ModuleResolver, is_program_entry
from ..prologue import (MAX_FUNCTION_BYTES, FlowStates, Function, FunctionIndexCache, analyze,
                        builds_callers_frame, caller_unframed, flow_states, plt_rule)
from ..rules import (ENTRY_POINT, RIP, RSP, SIGCONTEXT_REGS, SIGNAL_FRAME, UC_MCONTEXT, UNDEF, CfaKind, CfaRule,
                     FrameKind, RegKind, UnwindRule, offset_rule)
from ..walk import walk

RBP = 6
FP_RULE = offset_rule(RBP, 16, {RBP: -16})
OUTERMOST = UnwindRule(CfaRule(CfaKind.REG_OFFSET, RSP, 8), ((RIP, UNDEF),))
# A caller that has not built its frame yet (its callee, an out-of-line prologue, builds it): (cfa, ra, rbp) =
# (sp + 8, [sp], rbp), the return address right at its sp and rbp still its caller's.
UNFRAMED = offset_rule(RSP, 8)
ENTRY = UNFRAMED  # a function at its first byte: (cfa, ra) = (rsp + 8, [rsp])
# __restore_rt: mov $15, %rax; syscall  (rt_sigreturn), what gdb's amd64_linux_sigtramp_p matches.
SIGRETURN = bytes.fromhex("48c7c00f0000000f05")
PROLOGUE_WINDOW = 16  # bytes read past the pc so the instruction there decodes
_AND_RSP8, _AND_RSP32 = b"\x48\x83\xe4", b"\x48\x81\xe4"  # and $imm8 / $imm32, %rsp


class _Miss(Enum):
    MISS = 0


_UNCACHED: Final = _Miss.MISS  # a cache miss (None is a cached answer)


class BadFramePointer(UnwindError):
    """RBP does not look like a frame pointer (unknown, misaligned, outside the stack)."""


def is_sigreturn(memory: MemoryReader, pc: int) -> bool:
    """Does `pc` point at the rt_sigreturn trampoline?"""
    try:
        return memory.read(pc, len(SIGRETURN)) == SIGRETURN
    except UnwindError:
        return False


class FramePointerUnwinder:
    """`fp`: RBP chain + frame-0 prologue analysis; each caller frame is recorded with via=fp."""

    name = "fp"
    reads_memory = True  # unwind(sample, memory=...) walks through a core dump or a live process too

    def __init__(self, resolver: ModuleResolver | None = None, max_depth: int = 256, prologue: bool = True,
                 functions: FunctionIndexCache | None = None) -> None:
        self.resolver = resolver or ModuleResolver()
        self.max_depth = max_depth
        self.prologue = prologue
        self.functions = functions or FunctionIndexCache()
        # (module map, pc, is return address) -> the code's rule, None cached too
        self._code_cache: LRUCache[tuple[ModuleMap | None, int, bool], UnwindRule | None] = LRUCache(1 << 16)
        # (module map, pc) -> has the caller of the frame-0 code at pc no frame yet (unwind.prologue.caller_unframed)
        self._unframed_cache: LRUCache[tuple[ModuleMap, int], bool] = LRUCache(1 << 12)
        # (start, machine code) of a JIT function -> its flow states
        self._jit_flows: LRUCache[tuple[int, bytes], FlowStates] = LRUCache(256)
        # (elf, its path, function start, its absolute start) -> the function's flow states
        self._flows: LRUCache[tuple[int, str | None, int, int], FlowStates] = LRUCache(256)

    def memory_for(self, sample: Sample) -> AddressSpace:
        return AddressSpace(sample, self.resolver)

    def unwind(self, sample: Sample, memory: MemoryReader | None = None,
               registers: list[dict[int, int]] | None = None) -> Trace:
        """`registers` receives each frame's recovered registers (see walk())."""
        memory = memory if memory is not None else self.memory_for(sample)
        return walk(sample, RbpTracker(self, sample, memory), via=Via.FP, max_depth=self.max_depth, memory=memory,
                    registers=registers)

    def rule_for(self, frame: Frame, memory: MemoryReader, rbp: int | None, callee: Frame | None = None) -> UnwindRule:
        """The rule at `frame` given the frame's rbp and the frame it called (None for frame 0); raises
        BadFramePointer / MemoryReadError when unusable."""
        rule = self._code_rule(frame, memory)
        if rule is SIGNAL_FRAME:
            return rule
        if rule is not None:  # frame 0 or an interrupted frame: what its prologue analysis says
            if rule.cfa.reg == RBP:
                check_rbp(frame, rbp, memory)
            return rule
        if callee is not None and self.caller_unframed(callee, memory):
            return UNFRAMED
        if rbp == 0:
            return OUTERMOST
        check_rbp(frame, rbp, memory)
        return FP_RULE

    def _code_rule(self, frame: Frame, memory: MemoryReader) -> UnwindRule | None:
        """What the code at the pc says, cached per (module map, pc, kind of frame): SIGNAL_FRAME for the
        sigreturn trampoline, the prologue rule for frame 0 / an interrupted frame, for a caller only a
        realigned stack's rule (unwind.prologue: cfa = [rsp + n] + m), else None."""
        # a bare reader (no sample, no modules, no stack bounds) is enough: those checks are then skipped
        sample: Sample | None = getattr(memory, "sample", None)
        key = (sample.modules if sample is not None else None, frame.pc, frame.is_return_address)
        cached = self._code_cache.get(key, _UNCACHED)
        if cached is not _UNCACHED:
            return cached
        rule: UnwindRule | None
        if is_sigreturn(memory, frame.pc):
            rule = SIGNAL_FRAME
        elif not frame.is_return_address and self.prologue:
            rule = self.frame0_rule(frame.pc, memory)
        elif self.prologue:
            rule = self._realigned_rule(frame.pc, memory)
        else:
            rule = None
        if key[0] is not None:
            self._code_cache[key] = rule
        return rule

    def _realigned_rule(self, pc: int, memory: MemoryReader) -> UnwindRule | None:
        """For a caller frame: the analysis's rule where its function realigned the stack without a frame,
        keeping its entry rsp at [rsp] (V8's Builtins_DeoptimizationEntry_* around its C++ calls), so the
        frame chain is not its own; else None. Only functions with an `and $imm, %rsp` are analysed."""
        module_at: Callable[[int], Module | None] | None = getattr(memory, "module_at", None)
        module = module_at(pc) if module_at else None
        if module is None:
            return None
        try:
            func = self.functions.get(module.elf, self.resolver.debug_dirs).find(module.to_vaddr(pc))
        except UnwindError:
            return None
        if func is None or not 0 < func.size <= MAX_FUNCTION_BYTES:
            return None
        code = module.elf.read_vaddr(func.start, func.size) or b""
        if _AND_RSP8 not in code and _AND_RSP32 not in code:
            return None
        found = self.frame0_rule(pc, memory)
        return found if found is not None and found.cfa.kind == CfaKind.EXPRESSION else None

    def caller_unframed(self, callee: Frame, memory: MemoryReader) -> bool:
        """Is `callee` (frame 0 or an interrupted frame) code that will build its caller's frame, and has not
        yet (unwind.prologue.caller_unframed)? Its caller then takes UNFRAMED, not the frame chain."""
        if callee.is_return_address or not self.prologue:
            return False
        sample: Sample | None = getattr(memory, "sample", None)
        key = (sample.modules, callee.pc) if sample is not None else None
        if key is not None and key in self._unframed_cache:
            return self._unframed_cache[key]
        found = False
        module_at: Callable[[int], Module | None] | None = getattr(memory, "module_at", None)
        module = module_at(callee.pc) if module_at else None
        if module is not None:
            try:
                func = self.functions.get(module.elf, self.resolver.debug_dirs).find(module.to_vaddr(callee.pc))
            except UnwindError:
                func = None
            if func is not None and func.size:
                states = self._flow_states(module, func, module.to_absolute(func.start))
                found = states is not None and caller_unframed(states, callee.pc)
        if key is not None:
            self._unframed_cache[key] = found
        return found

    def frame0_rule(self, pc: int, memory: MemoryReader) -> UnwindRule | None:
        """Prologue/epilogue analysis of the function holding `pc`, through its ELF symbol."""
        module_at: Callable[[int], Module | None] | None = getattr(memory, "module_at", None)
        module = module_at(pc) if module_at else None
        if module is None:
            return self.jit_frame0_rule(pc, memory)
        vaddr = module.to_vaddr(pc)
        if is_program_entry(module.elf, vaddr):
            return ENTRY_POINT
        stub = plt_rule(module.elf, vaddr)  # lld's and mold's PLT: no CFI, and no symbol or a size-0 one
        if stub is not None:
            return stub
        try:
            func = self.functions.get(module.elf, self.resolver.debug_dirs).find(vaddr)
        except UnwindError:
            return None
        if func is None:
            return None
        start = module.to_absolute(func.start)
        end = start + func.size if func.size else None
        states = self._flow_states(module, func, start) if func.size else None
        code = module.elf.read_vaddr(func.start, pc - start + PROLOGUE_WINDOW)
        if code is None:
            try:
                code = memory.read(start, pc - start + 1)
            except UnwindError:
                return None
        return analyze(code, start, pc, end, states)

    def jit_frame0_rule(self, pc: int, memory: MemoryReader) -> UnwindRule | None:
        """Frame 0 in JIT code (an anonymous executable mapping), whose function the perf map or a mapped
        jitdump bounds (unwind.jit): the analysis of its machine code where the jitdump, or the process's
        own memory (live, or a core), holds it; without the code, at the function's first byte nothing
        has run yet (cfa = rsp + 8, the return address at [rsp]). None elsewhere: the frame chain then."""
        sample: Sample | None = getattr(memory, "sample", None)
        mapping = sample.modules.find(pc) if sample is not None else None
        if sample is None or mapping is None or mapping.path is not None:
            return None
        found = self.resolver.jit.code_at(sample.pid, pc, sample.modules)
        if found is None:
            return None
        start, size, code = found
        if len(code) < size and size <= MAX_FUNCTION_BYTES:
            try:
                code = memory.read(start, size)
            except UnwindError:
                pass
        if size and len(code) >= size:
            key = (start, code)
            states = self._jit_flows.get(key)
            if states is None:
                states = self._jit_flows[key] = flow_states(code[:size], start,
                                                            lambda target: self._frames_caller(target, memory))
            return analyze(code, start, pc, start + size, states)
        return ENTRY if pc == start else None

    def _frames_caller(self, target: int, memory: MemoryReader) -> bool:
        """Does a call to `target` (absolute) enter a function of a mapped ELF file that builds its caller's
        frame (unwind.prologue.builds_callers_frame)?"""
        module_at: Callable[[int], Module | None] | None = getattr(memory, "module_at", None)
        module = module_at(target) if module_at else None
        if module is None:
            return False
        try:
            func = self.functions.get(module.elf, self.resolver.debug_dirs).find(module.to_vaddr(target))
        except UnwindError:
            return False
        if func is None or not func.size or func.start != module.to_vaddr(target):
            return False
        states = self._flow_states(module, func, target)
        return states is not None and builds_callers_frame(states)

    def _flow_states(self, module: Module, func: Function, start: int) -> FlowStates | None:
        """The control-flow states of a sized function (absolute addresses), once per function."""
        key = (id(module.elf), module.elf.path, func.start, start)
        states = self._flows.get(key)
        if states is None:
            code = module.elf.read_vaddr(func.start, func.size) if func.size <= MAX_FUNCTION_BYTES else None
            if code is None or len(code) < func.size:
                return None
            states = self._flows[key] = flow_states(code, start)
        return states


def check_rbp(frame: Frame, rbp: int | None, memory: MemoryReader) -> None:
    """RBP must be known, 8-byte aligned and inside the stack snapshot (the walk then checks that SP grows)."""
    if rbp is None:
        raise BadFramePointer(f"rbp unknown at {frame.pc:#x}")
    if rbp & 7:
        raise BadFramePointer(f"rbp {rbp:#x} is not 8-byte aligned at {frame.pc:#x}")
    in_stack: Callable[[int, int], bool] | None = getattr(memory, "in_stack", None)
    if in_stack is not None and not in_stack(rbp, 16):
        raise MemoryReadError(rbp, 16)


class RbpTracker:
    """The `rule_for` callback of one walk: follows rbp through the rules it hands out, for the checks."""

    def __init__(self, unwinder: FramePointerUnwinder, sample: Sample, memory: MemoryReader) -> None:
        self.unwinder = unwinder
        self.memory = memory
        self.rbp = sample.registers.get(RBP)
        self._prev: tuple[UnwindRule, Frame] | None = None

    def __call__(self, address: int, frame: Frame) -> UnwindRule:
        callee = None
        if self._prev is not None:
            self.rbp = caller_rbp(*self._prev, frame, self.rbp, self.memory)
            callee = self._prev[1]
        rule = self.unwinder.rule_for(frame, self.memory, self.rbp, callee)
        self._prev = (rule, frame)
        return rule


def caller_rbp(rule: UnwindRule, callee: Frame, caller: Frame, rbp: int | None, memory: MemoryReader) -> int | None:
    """The caller's rbp after `rule` ran on `callee` (caller.sp is the CFA)."""
    if rule.kind == FrameKind.SIGNAL:
        if callee.sp is None:  # the signal rule stepped from the callee's rsp, so a caller means one is known
            return None
        return memory.read_u64(callee.sp + UC_MCONTEXT + 8 * SIGCONTEXT_REGS.index(RBP))
    for number, reg_rule in rule.regs:
        if number == RBP:
            if reg_rule.kind == RegKind.OFFSET and caller.sp is not None:
                return memory.read_u64(caller.sp + reg_rule.offset)
            return None
    return rbp


def fp_naive(resolver: ModuleResolver | None = None, max_depth: int = 256,
             functions: FunctionIndexCache | None = None) -> FramePointerUnwinder:
    """Registry factory `fp-naive`: the rbp chain without frame-0 prologue analysis, as the kernel's and
    perf's frame-pointer walkers follow it."""
    unwinder = FramePointerUnwinder(resolver, max_depth, prologue=False, functions=functions)
    unwinder.name = "fp-naive"
    return unwinder
