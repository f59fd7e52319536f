"""The generic walk: frame 0 at pc, return addresses at pc - 1, every stop reason, always bounded."""

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

from hypothesis import given, settings
from hypothesis import strategies as st
from trace_invariants import assert_consistent

from unwind.model import Registers, Sample, StopReason, Via
from unwind.rules import (
    SIGNAL_FRAME,
    CfaKind,
    CfaRule,
    FrameKind,
    RegKind,
    RegRule,
    UnwindRule,
    offset_rule,
)
from unwind.walk import walk

BASE = 0x7FFF0000


def sample(*words: int, pc: int = 0x400100, sp: int = BASE) -> Sample:
    stack = b"".join(struct.pack("<Q", w) for w in words)
    return Sample(Registers({16: pc, 7: sp}), stack, BASE)


def test_chain_of_call_frames_ends_at_zero_return_address():
    lookups = []

    def rule_for(address, frame):
        lookups.append((address, frame.is_return_address))
        return offset_rule(7, 8)

    trace = walk(sample(0x400200, 0x400300, 0), rule_for, via=Via.CFI)
    assert trace.pcs == (0x400100, 0x400200, 0x400300)
    assert trace.stop == StopReason.END
    assert lookups == [(0x400100, False), (0x4001FF, True), (0x4002FF, True)]
    assert [f.via for f in trace.frames] == [Via.CONTEXT, Via.CFI, Via.CFI]
    assert [f.cfa for f in trace.frames] == [BASE + 8, BASE + 16, BASE + 24]


def test_stop_reasons():
    assert walk(sample(0x400200), lambda a, f: None, via=Via.CFI).stop == StopReason.NO_UNWIND_INFO
    # return address needs a word beyond the snapshot
    assert walk(sample(), lambda a, f: offset_rule(7, 8), via=Via.CFI).stop == StopReason.BAD_MEMORY
    # CFA = sp + 0: the stack does not grow
    assert walk(sample(0x400200), lambda a, f: offset_rule(7, 0, ra_offset=0), via=Via.CFI).stop == StopReason.LOOP
    bad = UnwindRule(CfaRule(CfaKind.EXPRESSION, expr=b"\x13"))  # DW_OP_drop on an empty stack
    assert walk(sample(0x400200), lambda a, f: bad, via=Via.CFI).stop == StopReason.BAD_RULE
    deep = walk(sample(*range(0x400200, 0x400200 + 400)), lambda a, f: offset_rule(7, 8), via=Via.CFI, max_depth=50)
    assert deep.stop == StopReason.DEPTH_LIMIT and len(deep.frames) == 50


def test_frame_after_signal_frame_is_looked_up_at_pc():
    words = [0, 0, 0, 0, 0] + [0] * 15 + [BASE + 0x100, 0x400500]  # sigcontext rsp, rip
    lookups = []

    def rules(address, frame):
        lookups.append((address, frame.is_return_address))
        return SIGNAL_FRAME if len(lookups) == 1 else None

    trace = walk(sample(*words), rules, via=Via.CFI)
    assert trace.pcs == (0x400100, 0x400500)
    assert lookups == [(0x400100, False), (0x400500, False)]
    assert trace.stop == StopReason.NO_UNWIND_INFO


_OFFSETS = st.integers(-48, 48)
_EXPR = st.binary(max_size=12) | st.sampled_from([b"\x77\x08", b"\x77\x08\x06", b"\x76\x10", b"\x77\x00\x06\x23\x08"])
_RULES = st.one_of(
    st.builds(lambda reg, off, ra, saved: offset_rule(reg, off, {6: saved}, ra_offset=ra),
              st.sampled_from([6, 7]), _OFFSETS, _OFFSETS, _OFFSETS),
    st.builds(lambda expr, ra: UnwindRule(CfaRule(CfaKind.EXPRESSION, expr=expr), ((16, RegRule(RegKind.OFFSET, ra)),)),
              _EXPR, _OFFSETS),
    st.builds(lambda off, kind, expr: UnwindRule(CfaRule(CfaKind.REG_OFFSET, 7, off),
                                                 ((16, RegRule(kind, -8, 6, expr)),)),
              _OFFSETS, st.sampled_from(list(RegKind)), _EXPR),
    st.builds(lambda off: UnwindRule(CfaRule(CfaKind.DEREF, 7, off), ((16, RegRule(RegKind.OFFSET, -8)),)), _OFFSETS),
    st.just(SIGNAL_FRAME),
    st.none(),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 2**64 - 1) | st.integers(BASE, BASE + 0x300) | st.integers(0x400000, 0x400400),
                max_size=64),
       st.lists(_RULES, min_size=1, max_size=6), st.integers(2, 100))
def test_hostile_stacks_and_rules_keep_the_walk_invariants(words, rules, depth):
    """Random stack words and rules (offsets, DEREF, random DW_OP bytes, signal frames): the walk never
    raises, and the trace is consistent: each caller's sp is the CFA its callee computed, sp grows
    strictly across normal frames (or stays, once, above an interrupted frame), only the last frame may lack a
    CFA, and the stop says why."""
    used = []

    def rule_for(address, frame):
        rule = rules[(address >> 2) % len(rules)]
        used.append(rule)
        return rule

    snapshot = sample(*words)
    trace = walk(snapshot, rule_for, via=Via.CFI, max_depth=depth)
    assert_consistent(trace, snapshot, depth)
    frames = trace.frames
    assert 1 <= len(frames) <= depth
    assert (frames[0].pc, frames[0].sp, frames[0].is_return_address) == (0x400100, BASE, False)
    for callee, caller, rule in zip(frames, frames[1:], used):
        assert callee.cfa is not None and caller.sp == callee.cfa and caller.pc != 0
        assert caller.is_return_address == (rule.kind == FrameKind.NORMAL)
        if rule.kind == FrameKind.NORMAL:  # equal only for an interrupted frame (its ra popped, as __vfork)
            assert caller.sp > callee.sp or (caller.sp == callee.sp and not callee.is_return_address)
    last = frames[-1]
    if trace.stop in (StopReason.BAD_MEMORY, StopReason.BAD_RULE, StopReason.NO_UNWIND_INFO,
                      StopReason.DEPTH_LIMIT):
        assert last.cfa is None
    else:
        assert trace.stop in (StopReason.END, StopReason.LOOP) and last.cfa is not None
    if trace.stop == StopReason.DEPTH_LIMIT:
        assert len(frames) == depth
    if trace.stop == StopReason.NO_UNWIND_INFO:
        assert used[-1] is None and len(used) == len(frames)
