"""The one rule type every unwind source funnels into (CFI rows, ORC entries, frame-pointer heuristics).

An `UnwindRule` says how to get the caller's registers from the callee's registers and memory:
first the CFA (canonical frame address, the caller's stack pointer), then each saved register.
"""

from __future__ import annotations

from enum import IntEnum
from struct import Struct
from typing import TYPE_CHECKING, Mapping

from .errors import MemoryReadError
from .model import Registers

if TYPE_CHECKING:
    from .memory import MemoryReader

RIP, RSP, RBP = 16, 7, 6
MASK = (1 << 64) - 1
# Callee-saved registers (rbx, rbp, r12-r15) keep their value when no rule mentions them;
# caller-saved ones become unknown (absent), as gdb and libunwind treat unspecified registers.
CALLEE_SAVED = (3, 6, 12, 13, 14, 15)
# rt_sigframe: after the handler returns into __restore_rt, sp points at the ucontext;
# uc_mcontext (struct sigcontext) starts after uc_flags, uc_link and uc_stack (8 + 8 + 24).
UC_MCONTEXT = 40
# struct sigcontext field order -> DWARF register numbers (r8..r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip).
SIGCONTEXT_REGS = (8, 9, 10, 11, 12, 13, 14, 15, 5, 4, 6, 3, 1, 0, 2, 7, 16)
# struct pt_regs (x86-64) order: r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi orig_ax ip cs flags sp ss.
PT_REGS_REGS = (15, 14, 13, 12, 6, 3, 11, 10, 9, 8, 0, 2, 1, 4, 5, None, 16, None, None, 7, None)
PT_REGS_IP = 16 * 8  # offset of ip in pt_regs; the partial (iret) frame starts there


class CfaKind(IntEnum):
    REG_OFFSET = 0  # cfa = reg + offset
    DEREF = 1  # cfa = *(reg + offset)   (ORC SP_INDIRECT)
    EXPRESSION = 2  # cfa = value of a DW_OP expression
    UNDEFINED = 3  # no CFA: the walk cannot continue


class RegKind(IntEnum):
    UNDEFINED = 0  # value unknown (for the return address: outermost frame)
    SAME_VALUE = 1  # caller's value = callee's value
    OFFSET = 2  # saved at *(cfa + offset)
    VAL_OFFSET = 3  # value = cfa + offset
    REGISTER = 4  # value = callee's register `reg`
    EXPRESSION = 5  # saved at *(value of expression, with cfa pushed)
    VAL_EXPRESSION = 6  # value = value of expression, with cfa pushed


class FrameKind(IntEnum):
    NORMAL = 0
    SIGNAL = 1  # sigreturn trampoline: the next frame is looked up at its pc, not pc - 1
    PT_REGS = 2  # ORC: the CFA is a full struct pt_regs
    PT_REGS_PARTIAL = 3  # ORC: the CFA is the iret frame (ip, cs, flags, sp, ss)


def _simple_breg(expr: bytes) -> tuple[int, int, bool] | None:
    """(reg, offset, deref) for `DW_OP_bregN off [DW_OP_deref]` (signal frames, PLT-free stubs), else None."""
    if not expr or not 0x70 <= expr[0] <= 0x8F:
        return None
    from formats.errors import TruncatedError
    from formats.leb128 import read_sleb
    try:
        offset, pos = read_sleb(expr, 1)
    except TruncatedError:  # not a simple breg: the stack machine reports it where it runs
        return None
    if pos == len(expr):
        return expr[0] - 0x70, offset, False
    if pos + 1 == len(expr) and expr[pos] == 0x06:
        return expr[0] - 0x70, offset, True
    return None


class _Frozen:
    """Immutable records with derived fast-path data: plain classes with __slots__ (a frozen dataclass costs
    ~4 M instructions to generate at import, on every run). Equality, hash and repr come from `_key`."""

    __slots__ = ()
    _names: tuple[str, ...] = ()

    def _key(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self._names)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Frozen) and other.__class__ is self.__class__ and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{n}={getattr(self, n)!r}' for n in self._names)})"

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r} of an immutable {type(self).__name__}")

    __delattr__ = __setattr__  # type: ignore[assignment]

    def __reduce__(self) -> tuple[type[_Frozen], tuple[object, ...]]:
        return type(self), self._key()  # the constructor's arguments, in order


class CfaRule(_Frozen):
    __slots__ = ("kind", "reg", "offset", "expr", "_simple")
    _names = ("kind", "reg", "offset", "expr")
    kind: CfaKind
    reg: int
    offset: int
    expr: bytes
    _simple: tuple[int, int, bool] | None

    def __init__(self, kind: CfaKind, reg: int = RSP, offset: int = 0, expr: bytes = b"") -> None:
        setter = object.__setattr__
        setter(self, "kind", kind)
        setter(self, "reg", reg)
        setter(self, "offset", offset)
        setter(self, "expr", expr)
        setter(self, "_simple", _simple_breg(expr) if kind == CfaKind.EXPRESSION else None)

    def compute(self, values: Mapping[int, int], memory: MemoryReader) -> int | None:
        """The CFA, or None when a needed register is unknown."""
        simple = self._simple
        if simple is not None:
            base = values.get(simple[0])
            if base is None:
                return None
            address = (base + simple[1]) & MASK
            return memory.read_u64(address) if simple[2] else address
        kind = self.kind
        if kind == CfaKind.REG_OFFSET:
            base = values.get(self.reg)
            return None if base is None else (base + self.offset) & MASK
        if kind == CfaKind.DEREF:
            base = values.get(self.reg)
            return None if base is None else memory.read_u64((base + self.offset) & MASK)
        if kind == CfaKind.EXPRESSION:
            from .dwarfexpr import evaluate
            return evaluate(self.expr, values, memory)
        return None

    def __str__(self) -> str:
        if self.kind == CfaKind.REG_OFFSET:
            return f"r{self.reg}{self.offset:+d}"
        if self.kind == CfaKind.DEREF:
            return f"*(r{self.reg}{self.offset:+d})"
        return "exp" if self.kind == CfaKind.EXPRESSION else "u"


class RegRule(_Frozen):
    __slots__ = ("kind", "offset", "reg", "expr", "_simple")
    _names = ("kind", "offset", "reg", "expr")
    kind: RegKind
    offset: int
    reg: int
    expr: bytes
    _simple: tuple[int, int, bool] | None

    def __init__(self, kind: RegKind, offset: int = 0, reg: int = 0, expr: bytes = b"") -> None:
        setter = object.__setattr__
        setter(self, "kind", kind)
        setter(self, "offset", offset)
        setter(self, "reg", reg)
        setter(self, "expr", expr)
        setter(self, "_simple", _simple_breg(expr) if kind in (RegKind.EXPRESSION, RegKind.VAL_EXPRESSION) else None)

    def value(self, number: int, cfa: int, values: Mapping[int, int], memory: MemoryReader) -> int | None:
        """The caller's value of register `number`, None when unknown."""
        simple = self._simple
        if simple is not None:  # DW_OP_bregN off [deref], evaluated without the stack machine
            base = values.get(simple[0])
            if base is None:
                from .dwarfexpr import ExpressionError
                raise ExpressionError(f"expression needs unknown register {simple[0]}")
            address = (base + simple[1]) & MASK
            if simple[2]:
                address = memory.read_u64(address)
            return memory.read_u64(address) if self.kind == RegKind.EXPRESSION else address
        kind = self.kind
        if kind == RegKind.OFFSET:
            return memory.read_u64((cfa + self.offset) & MASK)
        if kind == RegKind.VAL_OFFSET:
            return (cfa + self.offset) & MASK
        if kind == RegKind.SAME_VALUE:
            return values.get(number)
        if kind == RegKind.REGISTER:
            return values.get(self.reg)
        if kind in (RegKind.EXPRESSION, RegKind.VAL_EXPRESSION):
            from .dwarfexpr import evaluate
            result = evaluate(self.expr, values, memory, (cfa,))
            return result if kind == RegKind.VAL_EXPRESSION else memory.read_u64(result)
        return None


def unreadable_slot(out: dict[int, int], values: Mapping[int, int], number: int, slot: int) -> None:
    """A callee-saved register whose save slot cannot be read.

    Below the stack pointer the save area has been popped, so the register already holds the
    caller's value (GCC's `leave; ret` epilogues keep `rbp at CFA-16` rules there): unchanged.
    Elsewhere the value is unknown, as libdw treats it.
    """
    sp = values.get(RSP)
    if sp is not None and slot < sp and number in values:
        out[number] = values[number]
    else:
        out.pop(number, None)


# A rule with CFA = reg + offset and registers saved at CFA + n, as plain data for the walk: (CFA register,
# CFA offset, loads: (register, offset from the CFA) pairs, keep: the registers the caller keeps unchanged,
# first: the offset of the lowest saved slot, block: a Struct reading every saved slot at once when they are
# 8-byte aligned to each other, picks: (register, index in the block) pairs). A plain tuple, not a
# NamedTuple: the walk unpacks one per walked frame, which a tuple subclass makes go through an iterator.
OffsetStep = tuple[int, int, tuple[tuple[int, int], ...], tuple[int, ...], int, Struct | None,
                   tuple[tuple[int, int], ...]]


def _block_read(loads: list[tuple[int, int]]) -> tuple[int, Struct | None, tuple[tuple[int, int], ...]]:
    if not loads:
        return 0, None, ()
    first = min(offset for _, offset in loads)
    if any((offset - first) % 8 for _, offset in loads):
        return first, None, ()
    words = (max(offset for _, offset in loads) - first) // 8 + 1
    return first, _words(words), tuple((number, (offset - first) // 8) for number, offset in loads)


# The block reads of real frames span a few words (the callee-saved registers): those Structs are a
# precompiled constant; a wider span (from odd CFI data) is compiled for its rule, which is interned.
_WORDS = tuple(Struct(f"<{count}Q") for count in range(25))


def _words(count: int) -> Struct:
    return _WORDS[count] if count < len(_WORDS) else Struct(f"<{count}Q")


SAME = RegRule(RegKind.SAME_VALUE)
UNDEF = RegRule(RegKind.UNDEFINED)


class UnwindRule(_Frozen):
    """How to compute the caller's registers at one address range."""

    __slots__ = ("cfa", "regs", "ra_reg", "kind", "_offsets")
    _names = ("cfa", "regs", "ra_reg", "kind")
    cfa: CfaRule
    regs: tuple[tuple[int, RegRule], ...]
    ra_reg: int
    kind: FrameKind
    _offsets: OffsetStep | None

    def __init__(self, cfa: CfaRule, regs: tuple[tuple[int, RegRule], ...] = (), ra_reg: int = RIP,
                 kind: FrameKind = FrameKind.NORMAL) -> None:
        setter = object.__setattr__
        setter(self, "cfa", cfa)
        setter(self, "regs", regs)
        setter(self, "ra_reg", ra_reg)
        setter(self, "kind", kind)
        setter(self, "_offsets", None)
        self._fast_path()

    def _fast_path(self) -> None:
        # Fast path: CFA = reg + off, RA in rip, every rule OFFSET/SAME/UNDEFINED -> plain tuples.
        if self.cfa.kind != CfaKind.REG_OFFSET or self.kind != FrameKind.NORMAL or self.ra_reg != RIP:
            return
        loads: list[tuple[int, int]] = []
        copies: list[int] = []
        drops: set[int] = set()
        for number, rule in self.regs:
            if rule.kind == RegKind.OFFSET:
                loads.append((number, rule.offset))
            elif rule.kind == RegKind.UNDEFINED:
                drops.add(number)
            elif rule.kind == RegKind.SAME_VALUE:
                copies.append(number)
            else:
                return
        loaded = {n for n, _ in loads}
        keep = [r for r in CALLEE_SAVED if r not in drops and r not in loaded]
        keep += [r for r in copies if r not in keep and r not in loaded and r not in drops]
        offsets: OffsetStep = (self.cfa.reg, self.cfa.offset, tuple(loads), tuple(keep), *_block_read(loads))
        object.__setattr__(self, "_offsets", offsets)

    @property
    def return_address_undefined(self) -> bool:
        return any(n == self.ra_reg and r.kind == RegKind.UNDEFINED for n, r in self.regs)

    def step(self, regs: Registers, memory: MemoryReader) -> Registers:
        """The caller's registers: RSP = CFA, RIP = return address, callee-saved per the rules."""
        return Registers(self.step_values(regs.values, memory)[1])

    def step_values(self, values: Mapping[int, int], memory: MemoryReader) -> tuple[int | None, dict[int, int]]:
        """(CFA, caller's register dict); the walk's hot path. Raises MemoryReadError / ExpressionError."""
        fast = self._offsets
        if fast is not None:
            cfa_reg, cfa_off, loads, keep = fast[:4]
            base = values.get(cfa_reg)
            if base is None:
                return None, {}
            cfa = (base + cfa_off) & MASK
            out: dict[int, int] = {}
            for r in keep:
                v = values.get(r)
                if v is not None:
                    out[r] = v
            read = memory.read_u64
            for number, off in loads:
                slot = (cfa + off) & MASK
                try:
                    out[number] = read(slot)
                except MemoryReadError:
                    if number == self.ra_reg:
                        raise  # only a missing return address ends the walk
                    unreadable_slot(out, values, number, slot)
            out[RSP] = cfa
            return cfa, out
        if self.kind == FrameKind.SIGNAL and not self.regs:
            return self._from_context(values, memory, UC_MCONTEXT, SIGCONTEXT_REGS)
        if self.kind in (FrameKind.PT_REGS, FrameKind.PT_REGS_PARTIAL):
            return self._from_pt_regs(values, memory)
        computed = self.cfa.compute(values, memory)
        if computed is None:
            return None, {}
        cfa = computed
        out = {r: values[r] for r in CALLEE_SAVED if r in values}
        out.pop(RIP, None)
        for number, rule in self.regs:
            try:
                value = rule.value(number, cfa, values, memory)
            except MemoryReadError:
                if number == self.ra_reg:
                    raise
                if rule.kind == RegKind.OFFSET:
                    unreadable_slot(out, values, number, (cfa + rule.offset) & MASK)
                    continue
                value = None
            if value is None:
                out.pop(number, None)
            else:
                out[number] = value
        ra = out.pop(self.ra_reg, None) if self.ra_reg != RIP else out.get(RIP)
        if ra is None:
            out.pop(RIP, None)
        else:
            out[RIP] = ra
        out[RSP] = cfa
        return cfa, out

    def _from_context(self, values: Mapping[int, int], memory: MemoryReader, base: int,
                      layout: tuple[int, ...]) -> tuple[int | None, dict[int, int]]:
        sp = values.get(RSP)
        if sp is None:
            return None, {}
        block = memory.read(sp + base, 8 * len(layout))
        out = {reg: int.from_bytes(block[8 * i:8 * i + 8], "little") for i, reg in enumerate(layout) if reg is not None}
        return out[RSP], out

    def _from_pt_regs(self, values: Mapping[int, int], memory: MemoryReader) -> tuple[int | None, dict[int, int]]:
        addr = self.cfa.compute(values, memory)
        if addr is None:
            return None, {}
        if self.kind == FrameKind.PT_REGS:
            block = memory.read(addr, 8 * len(PT_REGS_REGS))
            out = {reg: int.from_bytes(block[8 * i:8 * i + 8], "little")
                   for i, reg in enumerate(PT_REGS_REGS) if reg is not None}
        else:  # iret frame only: ip, cs, flags, sp, ss; callee-saved registers carry over
            block = memory.read(addr, 8 * 4)
            out = {r: values[r] for r in CALLEE_SAVED if r in values}
            out[RIP] = int.from_bytes(block[0:8], "little")
            out[RSP] = int.from_bytes(block[24:32], "little")
        return addr, out


def offset_rule(cfa_reg: int, cfa_offset: int, saved: dict[int, int] | None = None, ra_offset: int = -8,
                kind: FrameKind = FrameKind.NORMAL) -> UnwindRule:
    """Shorthand: CFA = cfa_reg + cfa_offset, RA at CFA + ra_offset, `saved` registers at CFA + n."""
    regs = [(RIP, RegRule(RegKind.OFFSET, ra_offset))]
    regs += [(r, RegRule(RegKind.OFFSET, off)) for r, off in sorted((saved or {}).items())]
    return UnwindRule(CfaRule(CfaKind.REG_OFFSET, cfa_reg, cfa_offset), tuple(regs), RIP, kind)


SIGNAL_FRAME = UnwindRule(CfaRule(CfaKind.UNDEFINED), (), RIP, FrameKind.SIGNAL)
# The frame-pointer chain as a table-driven unwinder's fallback where its tables say nothing:
# (cfa, ra, rbp) = (rbp + 16, [rbp + 8], [rbp]). A distinct object: the walk takes it only while rbp
# looks like a frame pointer (non-zero, aligned, above sp); rbp = 0 is the outermost frame.
FRAME_CHAIN = offset_rule(RBP, 16, {RBP: -16})
# A program's entry point (_start) at its first instruction: the kernel or the dynamic loader jumped there
# and pushed no return address ([rsp] is argc), so the frame is the outermost one, whatever the CFI's
# initial rule says (glibc's _start marks rip undefined only after its endbr64), as gdb ends a
# backtrace at the entry function.
ENTRY_POINT = UnwindRule(CfaRule(CfaKind.REG_OFFSET, RSP, 8), ((RIP, UNDEF),))
