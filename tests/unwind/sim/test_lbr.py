"""The LBR model on hand-made branch sequences and its invariants under hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from unwind.errors import UsageError
from unwind.model import BranchEntry
from unwind.sim.lbr import BranchKind, LbrMode, LbrModel
from unwind.unwinders.lbr import call_entries

def test_calls_push_newest_first_and_overflow_drops_the_oldest():
    lbr = LbrModel(depth=4)
    for i in range(6):
        lbr.call(0x100 + i, 0x200 + i)
    assert [e.source for e in lbr.snapshot()] == [0x105, 0x104, 0x103, 0x102]
    lbr.ret(0x300, 0x106)
    assert [e.source for e in lbr.snapshot()] == [0x104, 0x103, 0x102]


def test_return_on_an_empty_stack_is_ignored():
    lbr = LbrModel(depth=8)
    lbr.ret(1, 2)
    lbr.call(3, 4)
    lbr.ret(5, 6)
    lbr.ret(7, 8)
    assert lbr.snapshot() == ()


def test_call_stack_mode_ignores_jumps_any_mode_records_them():
    stack, ring = LbrModel(8, LbrMode.CALL_STACK), LbrModel(8, LbrMode.ANY)
    for lbr in (stack, ring):
        lbr.call(0x10, 0x20)
        lbr.jump(0x22, 0x30, conditional=True)
        lbr.jump(0x32, 0x40, conditional=False)
        lbr.ret(0x44, 0x15)
    assert stack.snapshot() == ()
    assert [(e.source, e.target, e.flags) for e in ring.snapshot()] == [
        (0x44, 0x15, 6 << 20), (0x32, 0x40, 2 << 20), (0x22, 0x30, 1 << 20),  # PERF_BR_RET, _UNCOND, _COND
        (0x10, 0x20, 4 << 20)]  # PERF_BR_CALL


@pytest.mark.parametrize("depth", [0, 3, 64])
def test_only_hardware_depths(depth):
    with pytest.raises(UsageError):
        LbrModel(depth)


events = st.lists(st.tuples(st.booleans(), st.integers(0, 2**20)), max_size=200)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([4, 8, 16, 32]), events)
def test_call_stack_buffer_is_the_top_of_the_true_call_stack(depth, seq):
    lbr = LbrModel(depth)
    reference: list[BranchEntry] = []
    for is_call, address in seq:
        if is_call:
            lbr.call(address, address + 1)
            reference.append(BranchEntry(address, address + 1, BranchKind.CALL.flags))
        else:
            lbr.ret(address, address + 2)
            if reference:
                reference.pop()
        snap = lbr.snapshot()
        assert len(snap) <= min(depth, len(reference))
        assert list(snap) == reference[::-1][:len(snap)]
    if len(seq) <= depth:
        assert len(lbr.snapshot()) == len(reference)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([4, 8, 16, 32]), events)
def test_any_mode_replay_agrees_with_call_stack_mode_when_nothing_fell_off(depth, seq):
    stack, ring = LbrModel(32), LbrModel(32, LbrMode.ANY)
    seq = seq[:32]
    for is_call, address in seq:
        for lbr in (stack, ring):
            (lbr.call if is_call else lbr.ret)(address, address + 1)
    calls, complete = call_entries(ring.snapshot())
    if complete:
        assert calls == list(stack.snapshot())
