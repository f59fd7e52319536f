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

from hypothesis import given, settings, strategies as st

from unwind.model import Registers, Sample, StopReason, Via
from unwind.rules import CfaKind, CfaRule, SIGNAL_FRAME, UnwindRule, offset_rule
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


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 2**64 - 1), max_size=64), st.integers(-32, 32), st.integers(-32, 32),
       st.booleans())
def test_random_stacks_always_terminate(words, cfa_off, ra_off, signal):
    rule = SIGNAL_FRAME if signal else offset_rule(7, cfa_off, {6: ra_off - 8}, ra_offset=ra_off)
    trace = walk(sample(*words), lambda a, f: rule, via=Via.CFI, max_depth=100)
    assert 1 <= len(trace.frames) <= 100
    assert isinstance(trace.stop, StopReason)
