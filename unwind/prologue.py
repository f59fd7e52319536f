"""Frame-0 analysis with capstone: where the CFA is at an arbitrary pc of a function without unwind tables.

Decodes the function linearly from its symbol's start to the pc and tracks the stack depth
(pushes, pops, `sub/add rsp, imm`), whether `push rbp; mov rbp, rsp` has set up a frame, and
the epilogue (`pop rbp`, `leave`, `ret`). The result is the same `UnwindRule` a CFI row would
give: at entry `cfa = rsp+8`; after `push rbp` `cfa = rsp+16, rbp at cfa-16`; in the body
`cfa = rbp+16`; after `pop rbp`/`leave` and at `ret` `cfa = rsp+8` (return address at [rsp]).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from capstone import CS_ARCH_X86, CS_MODE_64, Cs
from cachetools import LRUCache

from formats.elf import ElfFile
from formats.errors import UnwindError
from formats.symtab import SymbolBind, SymbolType, read_symbols

from .rules import RSP, UnwindRule, offset_rule

RBP = 6
_BIND_RANK: dict[int, int] = {SymbolBind.GLOBAL: 2, SymbolBind.WEAK: 1}
MAX_FUNCTION_BYTES = 1 << 16  # beyond this, linear decoding is too slow and too likely to be wrong


@dataclass(frozen=True, slots=True)
class Function:
    """A FUNC symbol: [start, start + size) in ELF virtual addresses."""

    name: str
    start: int
    size: int


class FunctionIndex:
    """FUNC symbols of one ELF file sorted by address (.symtab, else .dynsym): pc -> enclosing function."""

    def __init__(self, elf: ElfFile):
        funcs: dict[int, tuple[tuple[bool, int], Function]] = {}
        for table in (".symtab", ".dynsym"):
            try:
                symbols = read_symbols(elf, table)
            except UnwindError:
                symbols = []
            for sym in symbols:
                if sym.type in (SymbolType.FUNC, SymbolType.GNU_IFUNC) and sym.value and sym.is_defined_in_section:
                    # Aliases at one address: as libdwfl (eu-stack) chooses, a sized symbol, then
                    # GLOBAL over WEAK over LOCAL, then the first in table order.
                    rank = (sym.size > 0, _BIND_RANK.get(sym.bind, 0))
                    old = funcs.get(sym.value)
                    if old is None or rank > old[0]:
                        funcs[sym.value] = (rank, Function(sym.name, sym.value, sym.size))
            if funcs:
                break
        self._funcs = sorted((f for _, f in funcs.values()), key=lambda f: f.start)
        self._starts = [f.start for f in self._funcs]

    def __len__(self) -> int:
        return len(self._funcs)

    def find(self, vaddr: int) -> Function | None:
        """The function containing `vaddr`; a zero-size symbol covers up to the next symbol."""
        i = bisect.bisect_right(self._starts, vaddr) - 1
        if i < 0:
            return None
        func = self._funcs[i]
        if func.size:
            return func if vaddr < func.start + func.size else None
        nxt = self._starts[i + 1] if i + 1 < len(self._starts) else func.start + MAX_FUNCTION_BYTES
        return func if vaddr < nxt else None


class FunctionIndexCache:
    """FunctionIndex per ELF file, bounded; keyed by the file object (one per path in a ModuleResolver)."""

    def __init__(self, size: int = 64):
        self._cache: LRUCache[tuple[int, str | None], FunctionIndex] = LRUCache(size)
        self.hits = self.misses = 0

    def get(self, elf: ElfFile, debug_dirs: Sequence[str] = ()) -> FunctionIndex:
        """The index of `elf`, taken from its separate debug file's .symtab when that has more functions."""
        key = id(elf), elf.path
        index = self._cache.get(key)
        if index is None:
            self.misses += 1
            index = FunctionIndex(elf)
            if debug_dirs and elf.section(".symtab") is None:
                index = max(index, self._debug_index(elf, debug_dirs), key=len)
            self._cache[key] = index
        else:
            self.hits += 1
        return index

    @staticmethod
    def _debug_index(elf: ElfFile, debug_dirs: Sequence[str]) -> FunctionIndex:
        from .debuginfo import find_debug_file

        try:
            path = find_debug_file(elf, debug_dirs)
            return FunctionIndex(ElfFile(path)) if path else FunctionIndex(elf)
        except (UnwindError, OSError):
            return FunctionIndex(elf)


@dataclass(frozen=True, slots=True)
class _State:
    depth: int = 0  # bytes below the return address (cfa = rsp + 8 + depth)
    rbp_slot: int | None = None  # depth right after `push rbp`: rbp saved at cfa - 8 - rbp_slot
    frame_depth: int | None = None  # depth at `mov rbp, rsp`: cfa = rbp + 8 + frame_depth
    depth_known: bool = True


_disasm = Cs(CS_ARCH_X86, CS_MODE_64)


def analyze(code: bytes, start: int, pc: int, end: int | None = None) -> UnwindRule | None:
    """The rule at `pc` for a function whose bytes from `start` are `code`; None when the decode is unsure.

    `code` must reach at least one instruction past `pc`. Addresses are whatever space `start`
    and `pc` share (ELF virtual or absolute).
    """
    if not start <= pc < start + len(code) or pc - start > MAX_FUNCTION_BYTES:
        return None
    end = end if end is not None else start + len(code)
    state = body = _State()
    in_epilogue = False
    at = start
    for address, size, mnemonic, ops in _disasm.disasm_lite(code, start):
        mnemonic = mnemonic.rpartition(" ")[2]  # drop rep/bnd/notrack prefixes
        if address == pc:
            if mnemonic in ("ret", "retq"):
                return offset_rule(RSP, 8)  # at ret: the return address is at [rsp]
            return _rule(state)
        if address > pc:
            return None
        at = address + size
        new = _apply(state, body, mnemonic, ops, start, end)
        if new is None:
            return None
        if new is body:  # ret or tail call: back in the body's frame
            in_epilogue = False
        elif new.depth < state.depth or (state.frame_depth is not None and new.frame_depth is None):
            in_epilogue = True  # body keeps the state from before the first pop
        elif new.depth > state.depth or mnemonic == "call" or mnemonic.startswith("j"):
            in_epilogue = False
        if not in_epilogue:
            body = new
        state = new
    return _rule(state) if at == pc else None


def _apply(state: _State, body: _State, mnemonic: str, ops: str, start: int, end: int) -> _State | None:
    """The state after one instruction; None when rsp changes in a way we cannot follow."""
    framed = state.frame_depth is not None
    if mnemonic == "push":
        depth = state.depth + 8
        if ops == "rbp" and state.rbp_slot is None and not framed:
            return replace(state, depth=depth, rbp_slot=depth)
        return replace(state, depth=depth)
    if mnemonic == "pop":
        if ops == "rbp":
            return replace(state, depth=state.depth - 8, rbp_slot=None, frame_depth=None)
        return replace(state, depth=state.depth - 8)
    if mnemonic == "leave":
        if state.frame_depth is None:  # not framed
            return None
        return _State(depth=state.frame_depth - 8, depth_known=True)
    if mnemonic in ("ret", "retq") or (mnemonic == "jmp" and _leaves(ops, start, end, state)):
        return body  # code after an epilogue runs in the body's frame
    if mnemonic == "mov" and ops == "rbp, rsp":
        if state.rbp_slot is not None and state.depth_known:
            return replace(state, frame_depth=state.depth)
        return state
    if ops.startswith("rsp, ") or ops == "rsp":
        return _rsp_write(state, mnemonic, ops[5:])
    return state


def _rsp_write(state: _State, mnemonic: str, src: str) -> _State | None:
    framed = state.frame_depth is not None
    if mnemonic in ("sub", "add"):
        imm = _integer(src)
        if imm is not None:
            return replace(state, depth=state.depth + (imm if mnemonic == "sub" else -imm))
    if mnemonic == "lea" and state.frame_depth is not None and src.startswith("[rbp"):  # framed
        disp = _integer(src[4:-1].replace(" ", "")) if src != "[rbp]" else 0
        if disp is not None:
            return replace(state, depth=state.frame_depth - disp)
    if mnemonic in ("cmp", "test"):
        return state
    return replace(state, depth_known=False) if framed else None


def _leaves(ops: str, start: int, end: int, state: _State) -> bool:
    """Is this jmp a tail call (target outside the function, or everything already popped)?"""
    target = _integer(ops)
    if target is None:
        return state.depth == 0 and state.frame_depth is None
    return not start <= target < end


_INTEGER = re.compile(r"[+-]?(?:0x[0-9a-f]+|[0-9]+)")


def _integer(text: str) -> int | None:
    """An integer operand as capstone prints it (`0x18`, `-0x8`, `8`), None for anything else."""
    return int(text, 0) if _INTEGER.fullmatch(text) else None


def _rule(state: _State) -> UnwindRule | None:
    saved = {}
    if state.frame_depth is not None:
        if state.rbp_slot is not None:
            saved[RBP] = -8 - state.rbp_slot
        return offset_rule(RBP, 8 + state.frame_depth, saved)
    if not state.depth_known or state.depth < 0:
        return None
    if state.rbp_slot is not None:
        saved[RBP] = -8 - state.rbp_slot
    return offset_rule(RSP, 8 + state.depth, saved)
