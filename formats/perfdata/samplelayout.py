"""SAMPLE bodies decoded by a layout compiled once per attr: one struct per run of fixed-size fields.

`SampleLayout.decode` returns exactly what `decode_sample` returns (tests/formats/perfdata/
test_samplelayout.py holds it to that) at a fraction of the cost: no cursor object, no call per
field, and the record made in one step by an itemgetter over the values in wire order.  Sample types
with READ, RAW, REGS_INTR, AUX or branch counters are left to `decode_sample`.
"""

from __future__ import annotations

import struct
from itertools import repeat
from operator import itemgetter
from typing import Callable, TypeAlias

from ..errors import TruncatedError
from .attr import EventAttr
from .codec import Body, branch_flags_word
from .constants import PERF_SAMPLE as S
from .constants import PERF_SAMPLE_BRANCH
from .sample import Branch, RegsDump, SampleRecord, decode_sample

# Fixed-size fields before the first variable-size one, in wire order: (bit, struct code, record fields).
_HEAD = ((S.IDENTIFIER, "Q", ("id",)), (S.IP, "Q", ("ip",)), (S.TID, "ii", ("pid", "tid")),
         (S.TIME, "Q", ("time",)), (S.ADDR, "Q", ("addr",)), (S.ID, "Q", ("id",)),
         (S.STREAM_ID, "Q", ("stream_id",)), (S.CPU, "I4x", ("cpu",)), (S.PERIOD, "Q", ("period",)))
# Fixed-size fields after STACK_USER (REGS_INTR, which sits among them, makes the layout general).
_TAIL = ((S.WEIGHT | S.WEIGHT_STRUCT, "Q", ("weight",)), (S.DATA_SRC, "Q", ("data_src",)),
         (S.TRANSACTION, "Q", ("transaction",)), (S.PHYS_ADDR, "Q", ("phys_addr",)),
         (S.CGROUP, "Q", ("cgroup",)), (S.DATA_PAGE_SIZE, "Q", ("data_page_size",)),
         (S.CODE_PAGE_SIZE, "Q", ("code_page_size",)))
_GENERAL = S.READ | S.RAW | S.REGS_INTR | S.AUX
_new = tuple.__new__
_Unpack: TypeAlias = "Callable[[Body, int], tuple[int, ...]]"  # a struct's unpack_from


def _overrun(what: str, size: int, pos: int, end: int) -> TruncatedError:
    return TruncatedError(f"sample {what} of {size} bytes at {pos:#x} overruns the record of {end} bytes")


class SampleLayout:
    """Where each field of one attr's SAMPLE bodies lies (in one byte order), and the decoder that uses it."""

    __slots__ = ("attr", "endian", "general", "head", "callchain", "branches", "hw_index", "regs_mask",
                 "regs", "stack", "tail", "dyn_tail", "pick", "_plan", "_arrays")

    def __init__(self, attr: EventAttr, endian: str):
        st = attr.sample_type
        self.attr, self.endian = attr, endian
        self.general = bool(st & _GENERAL) or bool(
            st & S.BRANCH_STACK and attr.branch_sample_type & PERF_SAMPLE_BRANCH.COUNTERS)
        self.callchain = bool(st & S.CALLCHAIN)
        self.branches = bool(st & S.BRANCH_STACK)
        self.hw_index = self.branches and attr.branch_hw_index
        self.regs_mask = attr.sample_regs_user if st & S.REGS_USER else None
        self.stack = bool(st & S.STACK_USER)
        tail = "".join(code for bit, code, _ in _TAIL if st & bit)
        # one struct each for: the head (with the callchain's word count), the registers, the fields after
        # the stack (with dyn_size when the stack is not empty) and after an empty stack (or none)
        self.head = struct.Struct(endian + "".join(code for bit, code, _ in _HEAD if st & bit) + "Q" * self.callchain)
        self.regs = struct.Struct(f"{endian}{attr.sample_regs_user.bit_count()}Q")
        self.dyn_tail = struct.Struct(endian + "Q" + tail)
        self.tail = struct.Struct(endian + tail)
        names: list[str | None] = [name for bit, _, fields in _HEAD if st & bit for name in fields]
        names += ["callchain"] * self.callchain + ["branch_hw_index"] * self.hw_index + ["branches"] * self.branches
        names += ["regs_user"] * (self.regs_mask is not None) + ["stack_user", "stack_user_dyn_size"] * self.stack
        names += [name for bit, _, fields in _TAIL if st & bit for name in fields]
        names += ["misc", "attr_index", None]       # decode() appends these three values
        where = {name: i for i, name in enumerate(names)}   # the last one wins: IDENTIFIER and ID are one id
        self.pick = itemgetter(*(where.get(field, len(names) - 1) for field in SampleRecord._fields))
        self._arrays: dict[int, _Unpack] = {}
        # what decode() reads, in one tuple: a local unpack costs less than a dozen attribute lookups
        self._plan = (self.general, self.head.size, self.head.unpack_from, struct.Struct(endian + "Q").unpack_from,
                      self.callchain, self.branches, self.hw_index, self.regs_mask, self.regs.size,
                      self.regs.unpack_from, self.stack, self.dyn_tail.unpack_from, self.tail.size,
                      self.tail.unpack_from, self.pick)

    def decode(self, body: Body, misc: int = 0, attr_index: int = 0) -> SampleRecord:
        """The SAMPLE body (header excluded) as decode_sample decodes it; TruncatedError or struct.error when it
        overruns.

        A counted field's size is checked before it is read; fixed-size reads past the end fail in struct.
        """
        (general, pos, head, u64, callchain, branches, hw_index, regs_mask, regs_size, regs, stack, dyn_tail,
         tail_size, tail, pick) = self._plan
        if general:
            return decode_sample(body, self.attr, misc, self.endian, attr_index)
        end = len(body)
        if pos > end:
            raise _overrun("fields", pos, 0, end)
        values = list(head(body, 0))
        if callchain:
            nr = values.pop()
            if nr * 8 > end - pos:
                raise _overrun("callchain", nr * 8, pos, end)
            values.append(self._array(nr)(body, pos) if nr else ())
            pos += nr * 8
        if branches:
            (nr,) = u64(body, pos)
            pos += 8
            if hw_index:
                values.append(u64(body, pos)[0])
                pos += 8
            if nr * 24 > end - pos:
                raise _overrun("branch stack", nr * 24, pos, end)
            words = self._array(nr * 3)(body, pos)
            pos += nr * 24
            flags = words[2::3] if self.endian == "<" else map(branch_flags_word, words[2::3], repeat(self.endian))
            values.append(tuple(map(_new, repeat(Branch), zip(words[0::3], words[1::3], flags))))
        if regs_mask is not None:
            (abi,) = u64(body, pos)
            pos += 8
            if abi:
                values.append(_new(RegsDump, (abi, regs_mask, regs(body, pos))))
                pos += regs_size
            else:
                values.append(_new(RegsDump, (abi, regs_mask, ())))
        if stack:
            (size,) = u64(body, pos)
            pos += 8
            if size > end - pos:
                raise _overrun("stack", size, pos, end)
            values.append(body[pos:pos + size])             # a view when the body is one: no copy
            if size:
                values += dyn_tail(body, pos + size)
            else:
                values.append(0)
                if tail_size:
                    values += tail(body, pos)
        elif tail_size:
            values += tail(body, pos)
        values += (misc, attr_index, None)
        return _new(SampleRecord, pick(values))

    def _array(self, count: int) -> _Unpack:
        """unpack_from for `count` u64 words (count already checked against the record size)."""
        unpack = self._arrays.get(count)
        if unpack is None:
            unpack = self._arrays[count] = struct.Struct(f"{self.endian}{count}Q").unpack_from
        return unpack
