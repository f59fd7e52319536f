"""The generic bounded walk every table-driven unwinder runs: look a rule up, step, check, repeat."""

from __future__ import annotations

from typing import Callable

from formats.errors import UnwindError

from .errors import MemoryReadError
from .model import Frame, Sample, StopReason, Trace, Via
from .rules import RIP, RSP, FrameKind, UnwindRule

RuleFor = Callable[[int, Frame], "UnwindRule | tuple[UnwindRule, Via] | None"]
_NORMAL = FrameKind.NORMAL


def walk(sample: Sample, rule_for: RuleFor, *, via: Via, max_depth: int = 256, memory=None) -> Trace:
    """Unwind `sample` from its registers; never raises for bad data, ends with a typed stop reason.

    `rule_for(lookup_address, frame)` gets the absolute lookup address (pc for frame 0 and after a
    signal frame, pc - 1 for return addresses) and returns the rule there, optionally paired with the
    `Via` to record for the caller frame it produces, or None when nothing covers the address.
    The frame handed to `rule_for` has no CFA yet; the walk fills it in once the rule has run, so
    do not use frames as dictionary keys inside `rule_for`.
    """
    if memory is None:
        from .memory import AddressSpace
        memory = AddressSpace(sample)
    values = dict(sample.registers.values)
    pc = values.get(RIP)
    if pc is None:
        return Trace((), StopReason.NO_UNWIND_INFO)
    frames: list[Frame] = []
    frame_via = Via.CONTEXT
    is_ra = False
    seen: set[tuple[int, int]] = set()
    while True:
        sp = values.get(RSP)
        frame = Frame(pc, sp, None, frame_via, is_ra)
        if len(frames) + 1 >= max_depth:
            frames.append(frame)
            return Trace(tuple(frames), StopReason.DEPTH_LIMIT)
        try:
            found = rule_for(pc - 1 if is_ra else pc, frame)
        except MemoryReadError:
            frames.append(frame)
            return Trace(tuple(frames), StopReason.BAD_MEMORY)
        except UnwindError:
            frames.append(frame)
            return Trace(tuple(frames), StopReason.BAD_RULE)
        if found is None:
            frames.append(frame)
            return Trace(tuple(frames), StopReason.NO_UNWIND_INFO)
        if type(found) is tuple:
            rule, next_via = found
        else:
            rule, next_via = found, via
        try:
            cfa, caller = rule.step_values(values, memory)
        except MemoryReadError:
            frames.append(frame)
            return Trace(tuple(frames), StopReason.BAD_MEMORY)
        except (UnwindError, ArithmeticError, ValueError, IndexError, KeyError, TypeError):
            frames.append(frame)
            return Trace(tuple(frames), StopReason.BAD_RULE)
        frames.append(frame)
        if cfa is None:
            return Trace(tuple(frames), StopReason.BAD_RULE)
        _set_cfa(frame, cfa)  # the walk's own fresh record, not yet in any trace
        new_pc = caller.get(RIP)
        if not new_pc:  # 0 or absent (an undefined return address): outermost frame
            return Trace(tuple(frames), StopReason.END)
        new_sp = caller.get(RSP)
        if new_sp is None:
            return Trace(tuple(frames), StopReason.BAD_RULE)
        if rule.kind == _NORMAL and sp is not None:
            if new_sp <= sp:
                return Trace(tuple(frames), StopReason.LOOP)
        else:  # signal / pt_regs frames may switch stacks: only an exact repeat is a loop
            key = (new_pc, new_sp)
            if key in seen:
                return Trace(tuple(frames), StopReason.LOOP)
            seen.add(key)
        values = caller
        pc = new_pc
        frame_via = next_via
        is_ra = rule.kind == _NORMAL


_set_cfa = Frame.cfa.__set__  # slot descriptor: fills the CFA of a frame the walk just built
