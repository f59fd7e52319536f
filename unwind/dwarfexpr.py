"""A DWARF expression stack machine for CFI rules (DW_CFA_*expression), bounded and typed on failure."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Callable, Mapping

from formats.errors import TruncatedError, UnwindError
from formats.leb128 import read_sleb, read_uleb

if TYPE_CHECKING:
    from .memory import MemoryReader

MASK = (1 << 64) - 1
SIGN = 1 << 63
MAX_STEPS = 10_000
MAX_STACK = 1_000

_FIXED = {  # const ops: opcode -> (size, signed)
    0x08: (1, False), 0x09: (1, True), 0x0A: (2, False), 0x0B: (2, True),
    0x0C: (4, False), 0x0D: (4, True), 0x0E: (8, False), 0x0F: (8, True),
}
_S16 = struct.Struct("<h")
# Stack entries each opcode consumes (checked before it runs): deref, deref_size, dup, drop, over,
# swap, rot, abs, neg, not, plus_uconst, bra; the binary arithmetic/comparison ops take two.
_NEEDS = {0x06: 1, 0x94: 1, 0x12: 1, 0x13: 1, 0x14: 2, 0x16: 2, 0x17: 3, 0x19: 1, 0x1F: 1, 0x20: 1,
          0x23: 1, 0x28: 1}
_UNARY = (0x1F, 0x20, 0x23, 0x28)  # in the binary range 0x1a-0x2e but not binary ops
_BINARY_NEEDS = 2
_BYTE_OPERAND = (0x94, 0x15)  # deref_size, pick: one operand byte
LebReader = Callable[[bytes, int], "tuple[int, int]"]


class ExpressionError(UnwindError):
    """A DWARF expression cannot be evaluated: bad opcode, stack underflow, missing register, runaway loop."""

    def __init__(self, message: str, offset: int | None = None):
        self.offset = offset
        super().__init__(message if offset is None else f"{message} at expression offset {offset}")


def _signed(value: int) -> int:
    return value - (1 << 64) if value & SIGN else value


def evaluate(expr: bytes, regs: Mapping[int, int], memory: MemoryReader, initial: tuple[int, ...] = (),
             max_steps: int = MAX_STEPS) -> int:
    """The value on top of the stack after running `expr`; `regs` maps DWARF numbers to values.

    `memory` has read(address, size) -> bytes (MemoryReadError passes through unchanged).
    """
    stack = [v & MASK for v in initial]
    pos = 0
    end = len(expr)
    steps = 0
    while pos < end:
        steps += 1
        if steps > max_steps:
            raise ExpressionError("expression runs too long (loop?)", pos)
        if len(stack) > MAX_STACK:
            raise ExpressionError("expression stack overflow", pos)
        start = pos
        op = expr[pos]
        pos += 1
        need = _BINARY_NEEDS if 0x1A <= op <= 0x2E and op not in _UNARY else _NEEDS.get(op, 0)
        if len(stack) < need:
            raise ExpressionError(f"stack underflow: opcode {op:#04x} needs {need} entries, has {len(stack)}", start)
        if op in _BYTE_OPERAND and pos >= end:
            raise ExpressionError("operand runs past the end", start)
        if 0x30 <= op <= 0x4F:  # lit0..lit31
            stack.append(op - 0x30)
        elif 0x70 <= op <= 0x8F:  # breg0..breg31
            off, pos = _leb(read_sleb, expr, pos, start)
            stack.append((_reg(regs, op - 0x70, start) + off) & MASK)
        elif op == 0x92:  # bregx
            reg, pos = _leb(read_uleb, expr, pos, start)
            off, pos = _leb(read_sleb, expr, pos, start)
            stack.append((_reg(regs, reg, start) + off) & MASK)
        elif op in _FIXED:
            size, signed = _FIXED[op]
            if pos + size > end:
                raise ExpressionError("constant runs past the end", start)
            stack.append(int.from_bytes(expr[pos:pos + size], "little", signed=signed) & MASK)
            pos += size
        elif op == 0x03:  # addr
            if pos + 8 > end:
                raise ExpressionError("address runs past the end", start)
            stack.append(int.from_bytes(expr[pos:pos + 8], "little"))
            pos += 8
        elif op == 0x10:  # constu
            value, pos = _leb(read_uleb, expr, pos, start)
            stack.append(value & MASK)
        elif op == 0x11:  # consts
            value, pos = _leb(read_sleb, expr, pos, start)
            stack.append(value & MASK)
        elif op == 0x06:  # deref
            stack.append(int.from_bytes(memory.read(stack.pop(), 8), "little"))
        elif op == 0x94:  # deref_size
            size = expr[pos]
            pos += 1
            if not 1 <= size <= 8:
                raise ExpressionError(f"bad DW_OP_deref_size size {size}", start)
            stack.append(int.from_bytes(memory.read(stack.pop(), size), "little"))
        elif op == 0x12:  # dup
            stack.append(stack[-1])
        elif op == 0x13:  # drop
            stack.pop()
        elif op == 0x14:  # over
            stack.append(stack[-2])
        elif op == 0x15:  # pick
            index = expr[pos]
            pos += 1
            if index >= len(stack):
                raise ExpressionError(f"DW_OP_pick {index} below the stack", start)
            stack.append(stack[-1 - index])
        elif op == 0x16:  # swap
            stack[-1], stack[-2] = stack[-2], stack[-1]
        elif op == 0x17:  # rot: top three (a b c) -> (c a b)
            stack[-1], stack[-2], stack[-3] = stack[-2], stack[-3], stack[-1]
        elif op == 0x19:  # abs
            stack.append(abs(_signed(stack.pop())) & MASK)
        elif op == 0x1F:  # neg
            stack.append(-stack.pop() & MASK)
        elif op == 0x20:  # not
            stack.append(~stack.pop() & MASK)
        elif op == 0x23:  # plus_uconst
            value, pos = _leb(read_uleb, expr, pos, start)
            stack.append((stack.pop() + value) & MASK)
        elif 0x1A <= op <= 0x2E and op not in _UNARY:
            b = stack.pop()
            a = stack.pop()
            stack.append(_binary(op, a, b, start))
        elif op == 0x2F:  # skip
            if pos + 2 > end:
                raise ExpressionError("branch offset runs past the end", start)
            pos = _jump(pos + 2, _S16.unpack_from(expr, pos)[0], end, start)
        elif op == 0x28:  # bra
            if pos + 2 > end:
                raise ExpressionError("branch offset runs past the end", start)
            delta = _S16.unpack_from(expr, pos)[0]
            pos = _jump(pos + 2, delta, end, start) if stack.pop() else pos + 2
        elif op == 0x96:  # nop
            pass
        else:
            raise ExpressionError(f"opcode {op:#04x} is not valid in a CFI expression", start)
    if not stack:
        raise ExpressionError("expression leaves an empty stack", pos)
    return stack[-1]


def _leb(reader: LebReader, expr: bytes, pos: int, offset: int) -> tuple[int, int]:
    """A LEB128 operand; one that runs past the end is this expression's error."""
    try:
        return reader(expr, pos)
    except TruncatedError:
        raise ExpressionError("LEB128 operand runs past the end", offset) from None


def _reg(regs: Mapping[int, int], number: int, offset: int) -> int:
    value = regs.get(number)
    if value is None:
        raise ExpressionError(f"expression needs unknown register {number}", offset)
    return value


def _jump(pos: int, delta: int, end: int, offset: int) -> int:
    target = pos + delta
    if not 0 <= target <= end:
        raise ExpressionError("branch target outside the expression", offset)
    return target


def _binary(op: int, a: int, b: int, offset: int) -> int:
    if op == 0x1A:
        return a & b
    if op == 0x1B:  # div (signed)
        if b == 0:
            raise ExpressionError("division by zero", offset)
        sa, sb = _signed(a), _signed(b)
        q = abs(sa) // abs(sb)
        return (q if (sa < 0) == (sb < 0) else -q) & MASK
    if op == 0x1C:
        return (a - b) & MASK
    if op == 0x1D:  # mod (unsigned)
        if b == 0:
            raise ExpressionError("modulo by zero", offset)
        return a % b
    if op == 0x1E:
        return (a * b) & MASK
    if op == 0x21:
        return a | b
    if op == 0x22:
        return (a + b) & MASK
    if op == 0x24:
        return (a << b) & MASK if b < 64 else 0
    if op == 0x25:
        return a >> b if b < 64 else 0
    if op == 0x26:
        return (_signed(a) >> min(b, 63)) & MASK
    if op == 0x27:
        return a ^ b
    sa, sb = _signed(a), _signed(b)
    return int({0x29: sa == sb, 0x2A: sa >= sb, 0x2B: sa > sb, 0x2C: sa <= sb, 0x2D: sa < sb, 0x2E: sa != sb}[op])
