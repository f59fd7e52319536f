"""The generic bounded walk every table-driven unwinder runs: look a rule up, step, check, repeat."""

from __future__ import annotations

from struct import Struct
from typing import Callable

from formats.errors import UnwindError

from .errors import MemoryReadError
from .model import Frame, Sample, StopReason, Trace, Via
from .rules import MASK, RIP, RSP, FrameKind, UnwindRule, unreadable_slot

RuleFor = Callable[[int, Frame], "UnwindRule | tuple[UnwindRule, Via] | None"]
_NORMAL = FrameKind.NORMAL
_MISSING = object()
_u64_at = Struct("<Q").unpack_from


def walk(sample: Sample, rule_for: RuleFor, *, via: Via, max_depth: int = 256, memory=None,
         memo: dict | None = None) -> Trace:
    """Unwind `sample` from its registers; never raises for bad data, ends with a typed stop reason.

    `rule_for(lookup_address, frame)` gets the absolute lookup address (pc for frame 0 and after a
    signal frame, pc - 1 for return addresses) and returns the rule there, optionally paired with the
    `Via` to record for the caller frame it produces, or None when nothing covers the address.
    The frame handed to `rule_for` has no CFA yet. With `memo` (lookup address -> answer), each
    address is asked once: only for unwinders whose answer depends on the address alone.
    """
    if memory is None:
        from .memory import AddressSpace
        memory = AddressSpace(sample)
    values = dict(sample.registers.values)
    pc = values.get(RIP)
    if pc is None:
        return Trace((), StopReason.NO_UNWIND_INFO)
    # Plain offset rules read the stack snapshot inline: the hot path of every profile.
    snapshot = getattr(memory, "snapshot", None)
    stack, stack_lo = snapshot() if snapshot is not None else (b"", 0)
    last_slot = stack_lo + len(stack) - 8
    frames: list[Frame] = []
    frame_via = Via.CONTEXT
    is_ra = False
    seen: set[tuple[int, int]] = set()
    while True:
        sp = values.get(RSP)
        if len(frames) + 1 >= max_depth:
            frames.append(Frame(pc, sp, None, frame_via, is_ra))
            return Trace(tuple(frames), StopReason.DEPTH_LIMIT)
        address = pc - 1 if is_ra else pc
        found = memo.get(address, _MISSING) if memo is not None else _MISSING
        if found is _MISSING:
            try:
                found = rule_for(address, Frame(pc, sp, None, frame_via, is_ra))
            except MemoryReadError:
                frames.append(Frame(pc, sp, None, frame_via, is_ra))
                return Trace(tuple(frames), StopReason.BAD_MEMORY)
            except UnwindError:
                frames.append(Frame(pc, sp, None, frame_via, is_ra))
                return Trace(tuple(frames), StopReason.BAD_RULE)
            if memo is not None:
                memo[address] = found
        if found is None:
            frames.append(Frame(pc, sp, None, frame_via, is_ra))
            return Trace(tuple(frames), StopReason.NO_UNWIND_INFO)
        if type(found) is tuple:
            rule, next_via = found
        else:
            rule, next_via = found, via
        fast = rule._offsets
        if fast is not None:  # CFA = reg + offset, registers at CFA + n: UnwindRule.step_values inlined
            cfa_reg, cfa_off, loads, keep = fast
            base = values.get(cfa_reg)
            if base is None:
                frames.append(Frame(pc, sp, None, frame_via, is_ra))
                return Trace(tuple(frames), StopReason.BAD_RULE)
            cfa = (base + cfa_off) & MASK
            caller = {}
            for number in keep:
                value = values.get(number)
                if value is not None:
                    caller[number] = value
            for number, offset in loads:
                slot = (cfa + offset) & MASK
                if stack_lo <= slot <= last_slot:
                    caller[number] = _u64_at(stack, slot - stack_lo)[0]
                    continue
                try:
                    caller[number] = memory.read_u64(slot)
                except MemoryReadError:
                    if number == RIP:  # only a missing return address ends the walk
                        frames.append(Frame(pc, sp, None, frame_via, is_ra))
                        return Trace(tuple(frames), StopReason.BAD_MEMORY)
                    unreadable_slot(caller, values, number, slot)
            caller[RSP] = cfa
        else:
            try:
                cfa, caller = rule.step_values(values, memory)
            except MemoryReadError:
                frames.append(Frame(pc, sp, None, frame_via, is_ra))
                return Trace(tuple(frames), StopReason.BAD_MEMORY)
            except (UnwindError, ArithmeticError, ValueError, IndexError, KeyError, TypeError):
                frames.append(Frame(pc, sp, None, frame_via, is_ra))
                return Trace(tuple(frames), StopReason.BAD_RULE)
        frames.append(Frame(pc, sp, cfa, frame_via, is_ra))
        if cfa is None:
            return Trace(tuple(frames), StopReason.BAD_RULE)
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
