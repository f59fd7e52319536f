"""UnwindRule.step on hand-built stacks: every rule kind, the fast path, signal and pt_regs frames."""

from __future__ import annotations

import sys
from pathlib import Path

# tests/conftest.py puts tests/ and tests/unwind on sys.path ahead of the repository, so `unwind`,
# `formats.cfi` and `unwind.cli` can resolve to the namespace folders of the tests; put the real
# packages first and drop namespace stand-ins (real modules keep their identity).
_ROOT = str(Path(__file__).resolve().parents[2])
if sys.path[0] != _ROOT:
    sys.path.insert(0, _ROOT)
for _name in [n for n, m in list(sys.modules.items())
              if n.split(".")[0] in ("unwind", "formats") and getattr(m, "__file__", None) is None]:
    del sys.modules[_name]

import struct

import pytest
from hypothesis import given, settings, strategies as st

from unwind.dwarfexpr import ExpressionError
from unwind.errors import MemoryReadError, UnwindError
from unwind.model import Registers
from unwind.rules import (CfaKind, CfaRule, FrameKind, RegKind, RegRule, SIGNAL_FRAME, UnwindRule,
                          offset_rule)

BASE = 0x7FFF0000


class Stack:
    """A flat little-endian stack at BASE."""

    def __init__(self, *words: int):
        self.data = b"".join(struct.pack("<Q", w & (1 << 64) - 1) for w in words)

    def read(self, address: int, size: int) -> bytes:
        if BASE <= address and address + size <= BASE + len(self.data):
            return self.data[address - BASE:address - BASE + size]
        raise MemoryReadError(address, size)

    def read_u64(self, address: int) -> int:
        return int.from_bytes(self.read(address, 8), "little")


def test_call_frame_rule_pops_return_address():
    # push rbp at entry: [sp] = saved rbp, [sp+8] = return address; CFA = rsp + 16
    mem = Stack(0xBEEF, 0x401234)
    rule = offset_rule(7, 16, {6: -16})
    out = rule.step(Registers({16: 0x400000, 7: BASE, 6: 1, 3: 2, 0: 3}), mem)
    assert out.values == {16: 0x401234, 7: BASE + 16, 6: 0xBEEF, 3: 2}  # rax (caller-saved) dropped


def test_slow_path_kinds_agree_with_fast_path():
    mem = Stack(0xBEEF, 0x401234)
    regs = Registers({16: 0x400000, 7: BASE, 6: 1, 12: 7})
    slow = UnwindRule(CfaRule(CfaKind.EXPRESSION, expr=bytes([0x77, 16])),  # DW_OP_breg7 16
                      ((16, RegRule(RegKind.OFFSET, -8)), (6, RegRule(RegKind.OFFSET, -16))))
    assert slow.step(regs, mem) == offset_rule(7, 16, {6: -16}).step(regs, mem)


def test_each_register_rule_kind():
    mem = Stack(0x11, 0x22, 0x401000)
    regs = Registers({16: 0x400000, 7: BASE, 3: 5, 12: 6, 13: 9})
    rule = UnwindRule(CfaRule(CfaKind.REG_OFFSET, 7, 24), (
        (16, RegRule(RegKind.OFFSET, -8)),
        (3, RegRule(RegKind.VAL_OFFSET, -24)),
        (12, RegRule(RegKind.REGISTER, reg=13)),
        (13, RegRule(RegKind.UNDEFINED)),
        (14, RegRule(RegKind.EXPRESSION, expr=bytes([0x38, 0x1C]))),  # cfa - 8 -> *(...)
        (15, RegRule(RegKind.VAL_EXPRESSION, expr=bytes([0x31, 0x22]))),  # cfa + 1
    ))
    out = rule.step(regs, mem).values
    assert out == {16: 0x401000, 7: BASE + 24, 3: BASE, 12: 9, 14: 0x401000, 15: BASE + 25}


def test_deref_cfa_for_orc_sp_indirect():
    mem = Stack(BASE + 16, 0, 0x401000)
    rule = UnwindRule(CfaRule(CfaKind.DEREF, 7, 0), ((16, RegRule(RegKind.OFFSET, 0)),))
    out = rule.step(Registers({16: 1, 7: BASE}), mem)
    assert out.values == {7: BASE + 16, 16: 0x401000}


def test_signal_frame_reads_sigcontext():
    # ucontext at sp: uc_flags, uc_link, uc_stack (3 words), then sigcontext r8..r15 rdi rsi rbp rbx rdx rax rcx rsp rip
    words = [0, 0, 0, 0, 0] + list(range(100, 117))
    out = SIGNAL_FRAME.step(Registers({16: 0x400000, 7: BASE}), Stack(*words)).values
    assert out[8] == 100 and out[15] == 107 and out[5] == 108 and out[6] == 110
    assert out[7] == 115 and out[16] == 116 and out[0] == 113


def test_pt_regs_partial_reads_iret_frame():
    mem = Stack(0x401000, 0x33, 0x246, BASE + 0x100, 0x2B)
    rule = UnwindRule(CfaRule(CfaKind.REG_OFFSET, 7, 0), (), 16, FrameKind.PT_REGS_PARTIAL)
    out = rule.step(Registers({16: 1, 7: BASE, 6: 4}), mem).values
    assert out == {16: 0x401000, 7: BASE + 0x100, 6: 4}


def test_missing_memory_and_bad_expression_are_typed():
    with pytest.raises(MemoryReadError):
        offset_rule(7, 16).step(Registers({16: 1, 7: BASE + 0x1000}), Stack(0))
    rule = UnwindRule(CfaRule(CfaKind.EXPRESSION, expr=bytes([0x1C])))  # minus on an empty stack
    with pytest.raises(ExpressionError):
        rule.step(Registers({16: 1, 7: BASE}), Stack(0))


kinds = st.sampled_from(list(RegKind))
reg_rules = st.builds(RegRule, kinds, st.integers(-64, 64), st.integers(0, 16), st.binary(max_size=8))
cfa_rules = st.builds(CfaRule, st.sampled_from(list(CfaKind)), st.integers(0, 16), st.integers(-64, 64),
                      st.binary(max_size=8))


@settings(max_examples=300, deadline=None)
@given(cfa_rules, st.lists(st.tuples(st.integers(0, 16), reg_rules), max_size=5),
       st.sampled_from(list(FrameKind)), st.lists(st.integers(0, 2**64 - 1), max_size=30))
def test_random_rules_only_raise_typed_errors(cfa, regs, kind, words):
    rule = UnwindRule(cfa, tuple(regs), 16, kind)
    try:
        out = rule.step(Registers({16: 0x400000, 7: BASE, 6: BASE + 8}), Stack(*words))
    except UnwindError:
        return
    assert all(0 <= v < 2**64 for v in out.values.values())


class _StackOnly:
    """Memory holding only [base, base + len(words)*8): what a perf/simulator stack copy gives."""

    def __init__(self, base: int, words: list[int]):
        self.base, self.words = base, words

    def read_u64(self, address: int) -> int:
        from unwind.errors import MemoryReadError

        i, rem = divmod(address - self.base, 8)
        if rem or not 0 <= i < len(self.words):
            raise MemoryReadError(address, 8)
        return self.words[i]


def test_epilogue_slot_below_sp_means_register_already_restored():
    # At `ret` after `leave`: CFA = rsp + 8, GCC's CFI still says rbp at CFA-16 and rbx at CFA-24,
    # both below rsp (outside the copy). `leave` already restored rbp, so the caller's rbp is rbp.
    from unwind.rules import CfaKind, CfaRule, RegKind, RegRule, UnwindRule

    rule = UnwindRule(CfaRule(CfaKind.REG_OFFSET, 7, 8), ((3, RegRule(RegKind.OFFSET, -24)),
                                                          (6, RegRule(RegKind.OFFSET, -16)),
                                                          (16, RegRule(RegKind.OFFSET, -8))))
    sp = 0x7000
    memory = _StackOnly(sp, [0x401234, 0x7100])  # [rsp] = return address
    cfa, caller = rule.step_values({7: sp, 16: 0x400100, 6: 0x7200, 3: 5}, memory)
    assert cfa == sp + 8
    assert caller[16] == 0x401234 and caller[7] == sp + 8
    assert caller[6] == 0x7200 and caller[3] == 5


def test_unreadable_slot_above_sp_is_unknown_and_missing_return_address_raises():
    from unwind.errors import MemoryReadError
    from unwind.rules import CfaKind, CfaRule, RegKind, RegRule, UnwindRule

    rule = UnwindRule(CfaRule(CfaKind.REG_OFFSET, 7, 64), ((6, RegRule(RegKind.OFFSET, -16)),
                                                           (16, RegRule(RegKind.OFFSET, -8))))
    sp = 0x7000
    memory = _StackOnly(sp, [0] * 7 + [0x401234])  # the rbp slot at CFA-16 = sp+48 is readable ...
    assert rule.step_values({7: sp, 6: 1}, memory)[1][6] == 0
    memory = _StackOnly(sp, [0] * 6)  # ... now neither it nor the return address is
    with pytest.raises(MemoryReadError):
        rule.step_values({7: sp, 6: 1}, memory)
    memory = _StackOnly(sp + 56, [0x401234])  # only the return address: rbp above sp, unreadable
    assert 6 not in rule.step_values({7: sp, 6: 1}, memory)[1]
