"""The generic bounded walk every table-driven unwinder runs: look a rule up, step, check, repeat."""

from __future__ import annotations

from struct import Struct
from typing import TYPE_CHECKING, Callable

from formats.errors import UnwindError

from .errors import MemoryReadError
from .model import Frame, Sample, StopReason, Trace, Via
from .rules import FRAME_CHAIN, MASK, RBP, RIP, RSP, FrameKind, UnwindRule, unreadable_slot

if TYPE_CHECKING:
    from .memory import MemoryReader

RuleFor = Callable[[int, Frame], UnwindRule | tuple[UnwindRule, Via] | None]
# `memo`: pc << 1 | is return address -> what rule_for answered there.
RuleMemo = dict[int, "UnwindRule | tuple[UnwindRule, Via] | None"]
# `suffixes`: (pc, sp, is return address) -> (registers, stack bytes, their address, lowest and highest + 8
# stack address the rest of the walk read, its frames, the index of this frame among them, stop, via).
Suffix = tuple[dict[int, int], bytes, int, int, int, tuple[Frame, ...], int, StopReason, Via]
Suffixes = dict[tuple[int, "int | None", bool], Suffix]
_NORMAL = FrameKind.NORMAL
_MISSING = object()
_u64_at = Struct("<Q").unpack_from
_new_frame = tuple.__new__
SUFFIX_LIMIT = 1 << 16  # remembered walk suffixes per module map before starting afresh
NOTHING_READ = (1 << 64, 0)  # (lowest, highest + 8) stack address read: none yet
_NO_LO, _NO_HI = NOTHING_READ


def walk(sample: Sample, rule_for: RuleFor, *, via: Via, max_depth: int = 256, memory: MemoryReader | None = None,
         memo: RuleMemo | None = None, suffixes: Suffixes | None = None,
         registers: list[dict[int, int]] | None = None) -> Trace:
    """Unwind `sample` from its registers; never raises for bad data, ends with a typed stop reason.

    `rule_for(lookup_address, frame)` gets the absolute lookup address (pc for frame 0 and after a
    signal frame, pc - 1 for return addresses) and returns the rule there, optionally paired with the
    `Via` to record for the caller frame it produces, or None when nothing covers the address.
    The frame handed to `rule_for` has no CFA yet. With `memo` ((pc << 1 | is return address) ->
    answer), each such pair is asked once: only for unwinders whose answer depends on nothing else.

    `suffixes` (with `memo`, for one module map) remembers the rest of earlier walks: a caller frame
    with the same pc, registers and the same stack bytes under everything its walk read goes on
    exactly as before, so the walk stops there and takes the remembered frames. A profile's samples
    share their outer frames, whose stack is untouched while the inner ones run.

    `registers` (a list) receives each frame's recovered register values ({DWARF number: value}),
    one per frame, for stitching (unwind.stitch); the suffix cache is then not used.
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
    stack_hi = stack_lo + len(stack)
    last_slot = stack_hi - 8
    if not stack or memo is None or registers is not None:
        suffixes = None
    frames: list[Frame] = []
    # For the suffix cache: per frame its registers and the lowest and highest + 8 stack address its
    # step read; frames before `unclean` took a step that read outside the snapshot or ran the general
    # rule, so no remembered suffix starts there.
    walked: list[tuple[dict[int, int], int, int]] = []
    unclean = 0
    frame_via = Via.CONTEXT
    is_ra = False
    seen: set[tuple[int, int]] | None = None  # (pc, sp) after signal / pt_regs frames, made on the first
    new_frame = _new_frame  # Frame(pc, sp, cfa, via, is_ra) without the NamedTuple's Python-level __new__
    while True:
        sp = values.get(RSP)
        if registers is not None:  # every pass appends exactly one frame (suffix hits are off)
            registers.append(values)
        if suffixes is not None and frames:
            hit = suffixes.get((pc, sp, is_ra))
            if hit is not None and hit[0] == values:  # the registers differ in most found entries: asked first
                _, h_stack, h_base, r_lo, r_hi, h_frames, h_at, h_stop, h_via = hit
                if (h_via is frame_via and stack_lo <= r_lo and r_hi <= stack_hi
                        and len(frames) + len(h_frames) - h_at < max_depth
                        and stack[r_lo - stack_lo:r_hi - stack_lo] == h_stack[r_lo - h_base:r_hi - h_base]):
                    frames.extend(h_frames[h_at:])
                    return _remember(suffixes, frames, walked, unclean, stack, stack_lo, r_lo, r_hi, h_stop)
        if len(frames) + 1 >= max_depth:
            return _ends_here(frames, Frame(pc, sp, None, frame_via, is_ra), StopReason.DEPTH_LIMIT)
        key = pc << 1 | is_ra
        found = memo.get(key, _MISSING) if memo is not None else _MISSING
        if found is _MISSING:
            try:
                found = rule_for(pc - 1 if is_ra else pc, Frame(pc, sp, None, frame_via, is_ra))
            except MemoryReadError:
                return _ends_here(frames, Frame(pc, sp, None, frame_via, is_ra), StopReason.BAD_MEMORY)
            except UnwindError:
                return _ends_here(frames, Frame(pc, sp, None, frame_via, is_ra), StopReason.BAD_RULE)
            if memo is not None:
                memo[key] = found
        if found is None:
            frames.append(Frame(pc, sp, None, frame_via, is_ra))
            walked.append((values, _NO_LO, _NO_HI))
            return _remember(suffixes, frames, walked, unclean, stack, stack_lo, _NO_LO, _NO_HI,
                             StopReason.NO_UNWIND_INFO)
        if type(found) is tuple:
            rule, next_via = found
        else:
            rule, next_via = found, via
        if rule is FRAME_CHAIN:  # a fallback: only while rbp can be a frame pointer
            rbp = values.get(RBP)
            if not rbp or rbp & 7 or sp is None or rbp < sp:
                return _ends_here(frames, Frame(pc, sp, None, frame_via, is_ra),
                                  StopReason.END if rbp == 0 else StopReason.NO_UNWIND_INFO)
        fast = rule._offsets
        if fast is not None:  # CFA = reg + offset, registers at CFA + n: UnwindRule.step_values inlined
            cfa_reg, cfa_off, loads, keep, first, block, picks = fast
            base = values.get(cfa_reg)
            if base is None:
                return _ends_here(frames, Frame(pc, sp, None, frame_via, is_ra), StopReason.BAD_RULE)
            cfa = (base + cfa_off) & MASK
            caller = {}
            for number in keep:
                value = values.get(number)
                if value is not None:
                    caller[number] = value
            lowest = cfa + first
            if block is not None and stack_lo <= lowest and lowest + block.size <= stack_hi:
                words = block.unpack_from(stack, lowest - stack_lo)  # every saved slot in one read
                for number, index in picks:
                    caller[number] = words[index]
                read_lo = lowest
                read_hi = lowest + block.size
            else:
                read_lo, read_hi = _NO_LO, _NO_HI
                for number, offset in loads:
                    slot = (cfa + offset) & MASK
                    if stack_lo <= slot <= last_slot:
                        caller[number] = _u64_at(stack, slot - stack_lo)[0]
                        if slot < read_lo:
                            read_lo = slot
                        if slot >= read_hi:
                            read_hi = slot + 8
                        continue
                    unclean = len(frames) + 1
                    try:
                        caller[number] = memory.read_u64(slot)
                    except MemoryReadError:
                        if number == RIP:  # only a missing return address ends the walk
                            return _ends_here(frames, Frame(pc, sp, None, frame_via, is_ra), StopReason.BAD_MEMORY)
                        unreadable_slot(caller, values, number, slot)
            caller[RSP] = cfa
            frames.append(new_frame(Frame, (pc, sp, cfa, frame_via, is_ra)))
            walked.append((values, read_lo, read_hi))
            new_pc = caller.get(RIP)
            if not new_pc:  # 0 or absent (an undefined return address): outermost frame
                return _remember(suffixes, frames, walked, unclean, stack, stack_lo, _NO_LO, _NO_HI, StopReason.END)
            new_sp = cfa
        else:
            unclean = len(frames) + 1
            try:
                cfa, caller = rule.step_values(values, memory)
            except MemoryReadError:
                return _ends_here(frames, Frame(pc, sp, None, frame_via, is_ra), StopReason.BAD_MEMORY)
            except UnwindError:  # a DW_OP expression that cannot run (ExpressionError), corrupt rule data
                return _ends_here(frames, Frame(pc, sp, None, frame_via, is_ra), StopReason.BAD_RULE)
            frames.append(new_frame(Frame, (pc, sp, cfa, frame_via, is_ra)))
            walked.append((values, _NO_LO, _NO_HI))
            if cfa is None:
                return Trace(tuple(frames), StopReason.BAD_RULE)
            new_pc = caller.get(RIP)
            if not new_pc:  # 0 or absent (an undefined return address): outermost frame
                return _remember(suffixes, frames, walked, unclean, stack, stack_lo, _NO_LO, _NO_HI, StopReason.END)
            new_sp = caller.get(RSP)
            if new_sp is None:
                return Trace(tuple(frames), StopReason.BAD_RULE)
        normal = rule.kind == _NORMAL
        if normal and sp is not None:
            # a called frame's CFA lies above its return address; an interrupted frame (frame 0, after a
            # signal) may have popped it already (__vfork keeps it in rdi across the syscall): CFA = sp
            if new_sp < sp or (new_sp == sp and is_ra):
                return Trace(tuple(frames), StopReason.LOOP)
        else:  # signal / pt_regs frames may switch stacks: only an exact repeat is a loop
            if seen is None:
                seen = set()
            if (new_pc, new_sp) in seen:
                return Trace(tuple(frames), StopReason.LOOP)
            seen.add((new_pc, new_sp))
        values = caller
        pc = new_pc
        frame_via = next_via
        is_ra = normal


def _ends_here(frames: list[Frame], frame: Frame, stop: StopReason) -> Trace:
    """The trace when the walk stops at `frame`, which has no CFA (its step did not run or failed)."""
    frames.append(frame)
    return Trace(tuple(frames), stop)


def _remember(suffixes: Suffixes | None, frames: list[Frame], walked: list[tuple[dict[int, int], int, int]],
              unclean: int, stack: bytes, stack_lo: int, lo: int, hi: int, stop: StopReason) -> Trace:
    """The trace; with a suffix cache, every newly walked caller frame whose rest of the walk read
    only the snapshot (from `lo` to `hi` beyond its own steps) is remembered: its registers, the stack
    bytes the rest read, where it went."""
    trace = tuple(frames)
    if suffixes is not None:
        if len(suffixes) > SUFFIX_LIMIT:
            suffixes.clear()
        for at in range(len(walked) - 1, max(unclean, 1) - 1, -1):
            values, step_lo, step_hi = walked[at]
            if step_lo < lo:
                lo = step_lo
            if step_hi > hi:
                hi = step_hi
            if stack_lo <= lo < hi:
                frame = trace[at]
                suffixes[(frame[0], frame[1], frame[4])] = (values, stack, stack_lo, lo, hi, trace, at, stop, frame[3])
    return Trace(trace, stop)
