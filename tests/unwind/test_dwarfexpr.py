"""The DW_OP stack machine: hand-assembled expressions (a comment per op) and the PLT CFA expression of
a real binary; every failure is an ExpressionError, never another exception, never a hang."""

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

from conftest import PYTHON

from unwind.dwarfexpr import ExpressionError, evaluate
from unwind.errors import MemoryReadError, UnwindError

M64 = (1 << 64) - 1


class Memory:
    """Eight words at 0x1000: 0x1000 + 8*i holds 0x1111 * (i + 1)."""

    def read(self, address: int, size: int) -> bytes:
        data = b"".join(struct.pack("<Q", 0x1111 * (i + 1)) for i in range(8))
        if 0x1000 <= address and address + size <= 0x1000 + len(data):
            return data[address - 0x1000:address - 0x1000 + size]
        raise MemoryReadError(address, size)


def ev(code: bytes, regs=None, initial=()) -> int:
    return evaluate(code, regs or {7: 0x1000, 6: 0x2000}, Memory(), initial)


@pytest.mark.parametrize("code, expected", [
    (b"\x35", 5),                                    # lit5
    (b"\x08\xff", 0xFF),                             # const1u 255
    (b"\x09\xff", M64),                              # const1s -1
    (b"\x0b\x00\x80", (-0x8000) & M64),              # const2s -32768
    (b"\x0c\x78\x56\x34\x12", 0x12345678),           # const4u
    (b"\x0e" + struct.pack("<Q", 1 << 63), 1 << 63),  # const8u
    (b"\x10\xe5\x8e\x26", 624485),                   # constu (LEB128 example of DWARF 5 fig. 23)
    (b"\x11\x7f", M64),                              # consts -1
    (b"\x77\x10", 0x1010),                           # breg7 +16
    (b"\x76\x70", 0x1FF0),                           # breg6 -16
    (b"\x92\x07\x08", 0x1008),                       # bregx r7 +8
    (b"\x77\x00\x06", 0x1111),                       # breg7 0; deref
    (b"\x77\x08\x94\x02", 0x2222),                   # breg7 8; deref_size 2
    (b"\x33\x35\x1c", (-2) & M64),                   # lit3 lit5 minus -> 3 - 5
    (b"\x33\x35\x1e", 15),                           # lit3 lit5 mul
    (b"\x11\x79\x32\x1b", (-3) & M64),               # consts -7; lit2; div (signed, truncating)
    (b"\x37\x33\x1d", 1),                            # lit7 lit3 mod
    (b"\x35\x1f", (-5) & M64),                        # lit5 neg
    (b"\x11\x7b\x19", 5),                            # consts -5; abs
    (b"\x3c\x3a\x1a", 8),                            # lit12 lit10 and
    (b"\x3c\x3a\x21", 14),                           # or
    (b"\x3c\x3a\x27", 6),                            # xor
    (b"\x30\x20", M64),                               # lit0 not
    (b"\x31\x34\x24", 16),                           # lit1 lit4 shl
    (b"\x40\x32\x25", 4),                            # lit16 lit2 shr
    (b"\x11\x70\x32\x26", (-4) & M64),               # consts -16; lit2; shra
    (b"\x35\x23\x90\x01", 149),                      # lit5 plus_uconst 144
    (b"\x11\x7f\x31\x2d", 1),                        # consts -1; lit1; lt (signed)
    (b"\x31\x32\x29", 0), (b"\x32\x32\x29", 1),      # eq
    (b"\x33\x32\x2a", 1), (b"\x33\x32\x2b", 1),      # ge, gt
    (b"\x33\x32\x2c", 0), (b"\x33\x32\x2e", 1),      # le, ne
    (b"\x31\x32\x12\x22\x22", 5),                   # lit1 lit2 dup plus plus -> 1 + 4
    (b"\x31\x32\x13", 1),                            # lit1 lit2 drop
    (b"\x31\x32\x14", 1),                            # lit1 lit2 over
    (b"\x31\x32\x33\x15\x02", 1),                   # lit1 lit2 lit3 pick 2
    (b"\x31\x32\x16", 1),                            # lit1 lit2 swap
    (b"\x31\x32\x33\x17", 2),                        # lit1 lit2 lit3 rot -> 3 1 2
    (b"\x2f\x01\x00\x35\x36", 6),                   # skip +1 over lit5; lit6
    (b"\x30\x28\x01\x00\x35\x36", 6),               # lit0 bra (not taken) -> lit5 lit6; top 6
    (b"\x31\x28\x01\x00\x35\x36", 6),               # lit1 bra (taken) over lit5; lit6
    (b"\x96\x34", 4),                                 # nop lit4
])
def test_operations(code, expected):
    assert ev(code) == expected


def test_loop_with_bra_sums_one_to_ten():
    # acc=0, i=10; loop: acc += i; i -= 1; bra loop while i != 0; drop i
    code = bytes([
        0x30,              # lit0          acc
        0x3A,              # lit10         acc i
        0x12,              # dup           acc i i          <- loop (offset 2)
        0x17,              # rot           i acc i
        0x22,              # plus          i acc+i
        0x16,              # swap          acc i
        0x31, 0x1C,        # lit1 minus    acc i-1
        0x12,              # dup           acc i i
        0x28, 0xF6, 0xFF,  # bra -10 -> offset 2 while i != 0
        0x13,              # drop          acc
    ])
    assert ev(code) == 55


def test_initial_stack_is_the_cfa():
    assert ev(b"\x38\x1c", initial=(0x5000,)) == 0x4FF8  # cfa; lit8; minus


@pytest.mark.parametrize("code, message", [
    (b"\x1c", "underflow"),                   # minus on an empty stack
    (b"\x17", "underflow"),                   # rot needs three
    (b"\x31\x15\x05", "below the stack"),     # pick 5 of one
    (b"\x2f\xfd\xff", "too long"),            # skip -3: itself, forever
    (b"\x9c", "not valid"),                   # DW_OP_call_frame_cfa is not allowed in CFI
    (b"\x50", "not valid"),                   # DW_OP_reg0 (a location, not a value)
    (b"\xff", "not valid"),                   # unknown opcode
    (b"\x31\x30\x1b", "division by zero"),    # lit1 lit0 div
    (b"\x2f\x10\x00", "outside"),             # skip past the end
    (b"\x0c\x01", "past the end"),            # const4u with one byte
    (b"\x78\x00", "unknown register"),        # breg8: r8 not known
    (b"", "empty stack"),
])
def test_errors_are_typed(code, message):
    with pytest.raises(ExpressionError, match=message):
        ev(code)


def test_memory_faults_pass_through():
    with pytest.raises(MemoryReadError):
        ev(b"\x30\x06")  # lit0 deref


def test_plt_cfa_expression_from_python3():
    """The PLT FDE's CFA: rsp + 8 + ((rip & 15) >= 11 ? 8 : 0) (binutils elf_x86_64_eh_frame_plt)."""
    from formats.cfi.parse import CfiSection
    from formats.cfi.table import interpret
    from formats.elf import ElfFile

    elf = ElfFile(PYTHON)
    sec = CfiSection.from_elf(elf, ".eh_frame")
    plt = elf.section(".plt")
    fde = next(f for f in sec.fdes if f.pc_begin <= plt.addr < f.pc_end)
    rows = interpret(sec, fde).rows
    expr = next(r.cfa_expr for r in rows if r.cfa_expr is not None)
    for rip in range(plt.addr + 16, plt.addr + 64):
        expected = 0x7000 + 8 + (8 if (rip & 15) >= 11 else 0)
        assert evaluate(expr, {7: 0x7000, 16: rip}, Memory()) == expected


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=40), st.lists(st.integers(0, M64), max_size=3))
def test_random_expressions_terminate_with_typed_errors(code, initial):
    try:
        value = evaluate(code, {r: 0x1000 + 8 * r for r in range(17)}, Memory(), tuple(initial), max_steps=2000)
    except UnwindError:
        return
    assert 0 <= value <= M64
