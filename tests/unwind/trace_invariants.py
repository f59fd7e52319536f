"""What every walk must satisfy, whatever the snapshot: the property tests check traces with it.

A bug in a rule, a table or the walk (a wrong CFA, a frame appended twice, an exception turned into a
stop reason) breaks one of these; corrupt data only changes where and why the walk ends.
"""

from __future__ import annotations

from unwind.model import Sample, StopReason, Trace

RIP, RSP = 16, 7
# Stops at a frame whose step did not run (or failed): that frame has no CFA.
_NO_STEP = (StopReason.BAD_MEMORY, StopReason.BAD_RULE, StopReason.NO_UNWIND_INFO, StopReason.DEPTH_LIMIT)


def assert_consistent(trace: Trace, sample: Sample, max_depth: int, *, tables_only: bool = False) -> None:
    """`trace` is a well-formed walk of `sample`.

    - frame 0 is the sample's pc and sp; at most `max_depth` frames;
    - every frame but the last has a CFA; a return-address caller's sp is its callee's CFA and lies
      strictly above the callee's sp (the stack grows towards lower addresses), or at it where the
      callee was interrupted (frame 0, or after a signal frame) with its return address already
      popped into a register (glibc's __vfork: CFA = rsp, ra in rdi);
    - the stop agrees with the last frame: DEPTH_LIMIT exactly at `max_depth` frames; a stop that
      means "this frame could not be stepped" leaves it without a CFA; LOOP follows a step;
    - with `tables_only` (dwarf, orc: a rule comes only from a mapped module's tables), every frame
      that was stepped has a pc inside a mapping of the sample.
    """
    values = sample.registers.values
    frames = trace.frames
    assert isinstance(trace.stop, StopReason)
    if values.get(RIP) is None:
        assert frames == () and trace.stop == StopReason.NO_UNWIND_INFO
        return
    assert 1 <= len(frames) <= max_depth, (len(frames), max_depth)
    assert (frames[0].pc, frames[0].sp, frames[0].is_return_address) == (values[RIP], values.get(RSP), False)
    for callee, caller in zip(frames, frames[1:]):
        assert callee.cfa is not None, (callee, trace.stop)
        assert caller.pc != 0
        if caller.is_return_address:
            assert caller.sp == callee.cfa, (callee, caller)
            assert callee.sp is None or caller.sp > callee.sp or (
                caller.sp == callee.sp and not callee.is_return_address), (callee, caller)
    last = frames[-1]
    if trace.stop == StopReason.DEPTH_LIMIT:
        assert len(frames) == max_depth
    if trace.stop in _NO_STEP:
        assert last.cfa is None, (last, trace.stop)
    elif trace.stop == StopReason.LOOP:
        assert last.cfa is not None
    if tables_only:
        stepped = frames if last.cfa is not None else frames[:-1]
        for frame in stepped:
            assert sample.modules.find(frame.lookup_pc) is not None, (frame, trace.stop)
