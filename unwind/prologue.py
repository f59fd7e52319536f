"""Frame-0 analysis with capstone: where the CFA is at an arbitrary pc of a function without unwind tables.

Follows the function's control flow from its symbol's start (or, with only a prefix of its code
or where paths disagree, decodes linearly up to the pc) and tracks the stack depth (pushes,
pops, `sub/add rsp, imm`), whether `push rbp; mov rbp, rsp` has set up a frame, and the
epilogue (`pop rbp`, `leave`, `ret`). The result is the same `UnwindRule` a CFI row would
give: at entry `cfa = rsp+8`; after `push rbp` `cfa = rsp+16, rbp at cfa-16`; in the body
`cfa = rbp+16`; after `pop rbp`/`leave` and at `ret` `cfa = rsp+8` (return address at [rsp]).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from capstone import CS_ARCH_X86, CS_MODE_64, Cs
from cachetools import LRUCache

from formats.elf import ElfFile
from formats.errors import UnwindError
from formats.symtab import SymbolBind, SymbolType, read_symbols

from .rules import RIP, RSP, CfaKind, CfaRule, RegKind, RegRule, UnwindRule, offset_rule
from .symtable import PLT_ENTRY_SIZE as PLT_SLOT

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
    ra_reg: str | None = None  # register the return address was popped into (`pop r15` at depth 0): depth -8
    # with the return address popped, `push rbp; mov rbp, rsp` at the CFA built the *caller's* frame (V8's
    # Builtins_BaselineOutOfLinePrologue builds the frame of the baseline code that calls it first thing)
    caller_framed: bool = False
    # stack realignment without a frame (V8's Builtins_DeoptimizationEntry_*: `mov r10, rsp; sub $8, %rsp;
    # and $-16, %rsp; mov r10, (%rsp)`): a register holding rsp as it was at depth `sp_copy[1]`, then that
    # rsp stored at [rsp + saved_at]: cfa = [rsp + saved_at] + 8 + saved_sp until `mov (%rsp), %rsp`
    sp_copy: tuple[str, int] | None = None
    saved_sp: int | None = None
    saved_at: int = 0


# Code that runs in its caller's frame (V8's Builtins_BaselineLeaveFrame, which baseline code jumps to): the
# frame chain is live, cfa = rbp + 16 with rbp saved at cfa - 16, wherever rsp is.
_BORROWED = _State(depth=8, rbp_slot=8, frame_depth=8, depth_known=False)
_UNKNOWN = None  # a flow state where paths disagree or rsp changed in a way we cannot follow
_RETURNS = ("ret", "retq", "retf")
_STOPS = (*_RETURNS, "int3", "ud2", "hlt")

FlowStates = dict[int, "tuple[str, _State | None]"]

# DWARF register numbers of the general registers a return address may be popped into (not rsp, rbp).
_DWARF_REGS = {"rax": 0, "rdx": 1, "rcx": 2, "rbx": 3, "rsi": 4, "rdi": 5,
               **{f"r{n}": n for n in range(8, 16)}}
# Their 32-bit names (a write to one clears the upper half).
_LOW = {"rax": "eax", "rdx": "edx", "rcx": "ecx", "rbx": "ebx", "rsi": "esi", "rdi": "edi",
        **{f"r{n}": f"r{n}d" for n in range(8, 16)}}

_disasm = Cs(CS_ARCH_X86, CS_MODE_64)


def analyze(code: bytes, start: int, pc: int, end: int | None = None,
            states: FlowStates | None = None) -> UnwindRule | None:
    """The rule at `pc` for a function whose bytes from `start` are `code`; None when the decode is unsure.

    With the whole function (`end` given and `code` reaching it, or its `flow_states` already
    made) the state at `pc` comes from following the function's control flow; where that
    reaches no single state at `pc`, and with only a prefix of the function, from decoding
    linearly from `start` to `pc` (`code` must then reach at least one instruction past `pc`).
    Addresses are whatever space `start` and `pc` share (ELF virtual or absolute).
    """
    if not start <= pc < start + len(code) or pc - start > MAX_FUNCTION_BYTES:
        return None
    if states is None and end is not None and len(code) >= end - start and end - start <= MAX_FUNCTION_BYTES:
        states = flow_states(code[:end - start], start)
    mnemonic, state = states.get(pc, ("", _UNKNOWN)) if states is not None else ("", _UNKNOWN)
    if mnemonic in _RETURNS:
        return offset_rule(RSP, 8)  # at ret: the return address is at [rsp]
    return _rule(state) if state is not _UNKNOWN else _linear(code, start, pc, end)


PLT_SECTIONS = frozenset((".plt", ".plt.sec", ".plt.got", ".iplt"))  # .iplt: lld's IRELATIVE stubs (static)
# PLT_SLOT (symtable's PLT_ENTRY_SIZE, 16): every x86-64 layout's stub (GNU ld, gold, lld, mold; IBT too) but
# GNU ld's 8-byte .plt.got and static .plt


def plt_rule(elf: ElfFile, vaddr: int) -> UnwindRule | None:
    """The rule at `vaddr` inside a PLT stub, for the linkers that write no CFI for them (lld, mold), or
    None outside the PLT sections. A stub only pushes and jumps: cfa = rsp + 8 + 8 x the pushes from its
    start to `vaddr` (a lazy entry's `push $index` after its `jmp *GOT`, which the GOT first points back
    to). .plt's lazy header (up to its first jump, padded to 16 bytes: 16 for GNU ld, gold and lld, 32 for
    mold) is entered with what an entry pushed before `jmp header` (the relocation index; mold passes it in
    r11 and pushes nothing), found in the first entry's code."""
    sec = next((s for s in elf.sections if s.name in PLT_SECTIONS and s.is_alloc and s.addr <= vaddr < s.addr + s.size),
               None)
    if sec is None:
        return None
    # perf 6.3's rule for the entry size: sh_entsize if 8 or 16, else the alignment's (lld, mold: 0 and 16)
    slot = sec.entsize if sec.entsize in (8, PLT_SLOT) else 8 if sec.addralign == 8 else PLT_SLOT
    header = _header_size(elf.read_vaddr(sec.addr, min(sec.size, 2 * PLT_SLOT)), sec.addr) \
        if sec.name == ".plt" else 0
    if vaddr < sec.addr + header:
        depth = _stub_depth(elf.read_vaddr(sec.addr, header), sec.addr, vaddr)
        entry = elf.read_vaddr(sec.addr + header, slot) if sec.size >= header + slot else None
        pushed = _stub_depth(entry, sec.addr + header, None, jumps_to=(sec.addr, sec.addr + header))
        depth = None if depth is None else depth + (pushed or 0)
    else:
        start = sec.addr + header + (vaddr - sec.addr - header) // slot * slot
        depth = _stub_depth(elf.read_vaddr(start, slot), start, vaddr)
    return None if depth is None else offset_rule(RSP, 8 + depth)


def _header_size(code: bytes | None, start: int) -> int:
    """Bytes of .plt's lazy header: through its first jump (`jmp *GOT+16`), rounded up to the 16-byte slot;
    0 when .plt starts with an entry (`jmp *GOT`: GNU ld's static .plt, IRELATIVE stubs only). The header
    pushes first (the GOT word; mold's r11), after an `endbr64` with IBT."""
    pushed = False
    for address, size, mnemonic, _ops in _disasm.disasm_lite(code or b"", start):
        mnemonic = mnemonic.rpartition(" ")[2]
        if mnemonic == "endbr64":
            continue
        if not pushed and mnemonic != "push":
            return 0
        pushed = True
        if mnemonic == "jmp":
            end: int = address + size - start
            return (end + PLT_SLOT - 1) // PLT_SLOT * PLT_SLOT
    return PLT_SLOT


def _stub_depth(code: bytes | None, start: int, pc: int | None, jumps_to: tuple[int, int] | None = None) -> int | None:
    """Bytes pushed by the straight-line stub `code` (at `start`) before `pc`, or before its first `jmp` into
    the range `jumps_to`; None when the code is missing, `pc` is not an instruction's address, rsp changes
    otherwise, or (with `jumps_to`) no such jump comes."""
    if code is None:
        return None
    depth = 0
    for address, _size, mnemonic, ops in _disasm.disasm_lite(code, start):
        mnemonic = mnemonic.rpartition(" ")[2]  # bnd jmp, notrack jmp
        target = _integer(ops) if mnemonic == "jmp" else None
        if address == pc or (jumps_to is not None and target is not None and jumps_to[0] <= target < jumps_to[1]):
            return depth
        if mnemonic == "push":
            depth += 8
        elif mnemonic == "pop":
            depth -= 8
        elif ops == "rsp" or ops.startswith("rsp,"):
            return None
    return None


def flow_states(code: bytes, start: int, frames_caller: Callable[[int], bool] | None = None) -> FlowStates:
    """address -> (mnemonic, stack state before it) of every instruction that `start` reaches through its control
    flow: both ways of a conditional jump, the target of an internal jump, past a call; an indirect or
    outside jump (a tail call, a jump table), `ret`, `int3`, `ud2` and `hlt` end a path. The state is None
    where two paths disagree or rsp changed in a way we cannot follow.

    A function that tears down a frame it never built (it reaches `mov rsp, rbp` or `leave`, and
    never pushes or writes rbp) was jumped to and runs in its caller's frame: its states then start
    from that frame. `frames_caller(target)`: does a direct call to `target` build the frame of its caller
    (builds_callers_frame: V8's Sparkplug code calls Builtins_BaselineOutOfLinePrologue first thing)? After
    such a call made before anything was pushed, the code runs in that frame.
    """
    insns = {address: (size, mnemonic.rpartition(" ")[2], ops)
             for address, size, mnemonic, ops in _disasm.disasm_lite(code, start)}
    if start not in insns:
        return {}
    end = start + len(code)
    pushed = frozenset(ops for _, mnemonic, ops in insns.values() if mnemonic == "push")
    states = _flow(insns, start, end, _State(), pushed, frames_caller)
    if any(_tears_down(*insns[address][1:]) for address in states) and not any(
            _builds_frame(mnemonic, ops) for _, mnemonic, ops in insns.values()):
        states = _flow(insns, start, end, _BORROWED, pushed, frames_caller)
    return {address: (insns[address][1], state) for address, state in states.items()}


def builds_callers_frame(states: FlowStates) -> bool:
    """Does the function build its caller's frame (it pops its return address, then `push rbp; mov rbp, rsp`
    right at its CFA: an out-of-line prologue, called before the caller pushed anything)?"""
    return any(state is not _UNKNOWN and state.caller_framed for _, state in states.values())


def caller_unframed(states: FlowStates, pc: int) -> bool:
    """Has the caller of the function at `pc` no frame of its own yet? True where the function builds its
    caller's frame and `pc` comes before that: the caller's return address is then at the caller's sp and
    rbp is still the caller's caller's frame."""
    state = states.get(pc, ("", _UNKNOWN))[1]
    if state is _UNKNOWN or state.caller_framed or not (state == _State() or state.ra_reg is not None):
        return False
    return builds_callers_frame(states)


def _tears_down(mnemonic: str, ops: str) -> bool:
    return mnemonic == "leave" or (mnemonic == "mov" and ops == "rsp, rbp")


def _builds_frame(mnemonic: str, ops: str) -> bool:
    """Does the instruction save or set rbp (`push rbp`, `mov rbp, ...`, any write to it)?"""
    return (mnemonic == "push" and ops == "rbp") or (ops.startswith("rbp, ") and mnemonic not in ("cmp", "test"))


def _flow(insns: dict[int, tuple[int, str, str]], start: int, end: int, entry: _State,
          pushed: frozenset[str], frames_caller: Callable[[int], bool] | None = None) -> dict[int, _State | None]:
    """The fixpoint of the stack states over the control flow (each address changes at most three times)."""
    states: dict[int, _State | None] = {start: entry}
    work = [start]
    while work:
        address = work.pop()
        state = states[address]
        size, mnemonic, ops = insns[address]
        after = _UNKNOWN if state is _UNKNOWN else _step(state, mnemonic, ops, pushed)
        if mnemonic == "call" and state == _State() and frames_caller is not None:
            target = _integer(ops)
            if target is not None and frames_caller(target):
                after = _BORROWED  # the callee built this function's frame: cfa = rbp + 16
        for successor in _successors(address + size, mnemonic, ops, start, end):
            if successor not in insns:
                continue
            if successor in states:
                old = states[successor]
                joined = _UNKNOWN if old is _UNKNOWN or after is _UNKNOWN else _join(old, after)
                if old == after or joined == old:
                    continue
                states[successor] = joined
            else:
                states[successor] = after
            work.append(successor)
    return states


def _join(a: _State, b: _State | None) -> _State | None:
    """Two paths' states at one address: the same frame (rbp-based CFA) with different rsp depths is still
    that frame; anything else is unknown."""
    if b is None or a.frame_depth is None or (a.frame_depth, a.rbp_slot) != (b.frame_depth, b.rbp_slot):
        return _UNKNOWN
    return replace(a, depth=a.frame_depth, depth_known=False)


def _successors(following: int, mnemonic: str, ops: str, start: int, end: int) -> tuple[int, ...]:
    if mnemonic in _STOPS:
        return ()
    if mnemonic.startswith(("j", "loop")):
        target = _integer(ops)
        inside = (target,) if target is not None and start <= target < end else ()
        return inside if mnemonic == "jmp" else (*inside, following)
    return (following,)


def _linear(code: bytes, start: int, pc: int, end: int | None) -> UnwindRule | None:
    """The rule at `pc` from decoding straight from `start`: code after an epilogue (`ret` or a tail call)
    is taken to run in the function body's frame."""
    end = end if end is not None else start + len(code)
    state = body = _State()
    in_epilogue = False
    at = start
    for address, size, mnemonic, ops in _disasm.disasm_lite(code, start):
        mnemonic = mnemonic.rpartition(" ")[2]  # drop rep/bnd/notrack prefixes
        if address == pc:
            if mnemonic in _RETURNS:
                return offset_rule(RSP, 8)  # at ret: the return address is at [rsp]
            return _rule(state)
        if address > pc:
            return None
        at = address + size
        if mnemonic in _RETURNS or (mnemonic == "jmp" and _leaves(ops, start, end, state)):
            new: _State | None = body  # code after an epilogue runs in the body's frame
        else:
            new = _step(state, mnemonic, ops)
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


_PUSH_STACK = re.compile(r"qword ptr \[rsp(?: \+ (\w+))?\]")


def _step(state: _State, mnemonic: str, ops: str, pushed: frozenset[str] = frozenset()) -> _State | None:
    """The state after one instruction that does not leave the function; None when rsp changes in a way
    we cannot follow. `pushed`: the registers the function pushes somewhere (a return address popped into
    one of them is pushed back later)."""
    framed = state.frame_depth is not None
    if state.ra_reg is not None:
        return _step_without_return_address(state, state.ra_reg, mnemonic, ops)
    if not framed and (state.sp_copy is not None or state.saved_sp is not None or
                       (mnemonic == "mov" and ops.endswith(", rsp"))):
        realigned = _realign_step(state, mnemonic, ops)
        if realigned is not _NOT_HANDLED:
            return realigned
    if mnemonic == "pop" and ops in pushed and ops in _DWARF_REGS and state == _State():
        # the return address popped into a register and pushed back later (V8's
        # Builtins_BaselineOutOfLinePrologue, glibc's __vfork; not _start's `pop rsi` of argc)
        return _State(depth=-8, ra_reg=ops)
    if mnemonic == "push":
        depth = state.depth + 8
        if ops == "rbp" and state.rbp_slot is None and not framed:
            return replace(state, depth=depth, rbp_slot=depth)
        copied = _PUSH_STACK.fullmatch(ops)
        if copied and not framed and state.rbp_slot is None and state.depth_known \
                and _integer(copied[1] or "0") == state.depth:
            # push [rsp + depth] copies the return address to the top (V8's bytecode handlers before a
            # tail call): the copy is the one the tail-called code returns through, the slots above
            # are its arguments.
            return _State()
        return replace(state, depth=depth)
    if mnemonic == "pop":
        if ops == "rbp":
            return replace(state, depth=state.depth - 8, rbp_slot=None, frame_depth=None)
        return replace(state, depth=state.depth - 8)
    if mnemonic == "leave":
        if state.frame_depth is None:  # not framed
            return None
        return _State(depth=state.frame_depth - 8, depth_known=True)
    if mnemonic == "mov" and ops == "rbp, rsp":
        if state.rbp_slot is not None and state.depth_known:
            return replace(state, frame_depth=state.depth)
        return state
    if ops.startswith("rsp, ") or ops == "rsp":
        return _rsp_write(state, mnemonic, ops[5:])
    return state


_CALLEE_SAVED = ("rbx", "r12", "r13", "r14", "r15")  # a call keeps them (rbp, rsp are never the copy)
_NOT_HANDLED = _State(depth=-1 << 40)  # _realign_step's "not mine": the ordinary step decides


def _realign_step(state: _State, mnemonic: str, ops: str) -> _State | None:
    """The state after an instruction of a frameless stack realignment (see _State.sp_copy), or _NOT_HANDLED."""
    if state.sp_copy is not None:
        reg, depth = state.sp_copy
        if (mnemonic == "pop" and ops == reg) or (mnemonic not in ("cmp", "test", "push") and
                                                  ops.startswith((f"{reg}, ", f"{_LOW[reg]}, "))) \
                or (mnemonic == "call" and reg not in _CALLEE_SAVED) \
                or (mnemonic in ("xchg", "xadd", "cmpxchg") and reg in ops.replace(",", " ").split()):
            return _step(replace(state, sp_copy=None), mnemonic, ops)  # the copy overwritten (or may be)
        if mnemonic == "and" and ops.startswith("rsp, "):
            return replace(state, depth_known=False)
        if mnemonic == "mov" and ops == f"qword ptr [rsp], {reg}" and state.saved_sp is None:
            return replace(state, saved_sp=depth, saved_at=0)
        if mnemonic == "mov" and ops == f"rsp, {reg}":
            return replace(state, depth=depth, depth_known=True, sp_copy=None, saved_sp=None, saved_at=0)
    if state.saved_sp is not None:
        at = state.saved_at
        moved = {"push": 8, "pop": -8}.get(mnemonic)
        if moved is None and mnemonic in ("sub", "add") and ops.startswith("rsp, "):
            imm = _integer(ops[5:])
            moved = None if imm is None else (imm if mnemonic == "sub" else -imm)
        if moved is not None:
            if at + moved < 0:
                return None  # popped the saved stack pointer
            after = replace(state, depth=state.depth + moved, saved_at=at + moved)
            return replace(after, rbp_slot=None) if mnemonic == "pop" and ops == "rbp" else after
        if mnemonic == "mov" and ops == "rsp, qword ptr [rsp]" and at == 0:
            return replace(state, depth=state.saved_sp, depth_known=True, saved_sp=None, sp_copy=None)
        if ops.startswith("rsp, ") or ops == "rsp" or (at == 0 and ops.startswith("qword ptr [rsp], ")):
            return None  # rsp moved otherwise, or the saved stack pointer overwritten
        return state
    if mnemonic == "mov" and ops.endswith(", rsp") and ops[:-5] in _DWARF_REGS and state.depth_known:
        return replace(state, sp_copy=(ops[:-5], state.depth))
    return _NOT_HANDLED


def _step_without_return_address(state: _State, reg: str, mnemonic: str, ops: str) -> _State | None:
    """While the return address is in register `reg`: pushes and pops (also of rbp: a frame built now is
    the caller's) move the depth until `push` of that register puts it back on top."""
    if mnemonic == "push":
        if ops == reg and state.depth == -8:
            return _State(caller_framed=state.caller_framed)
        if ops == "rbp" and state.depth == -8:  # rbp saved where the caller's own `push rbp` would put it
            return replace(state, depth=0, rbp_slot=0)
        return replace(state, depth=state.depth + 8)
    if mnemonic == "mov" and ops == "rbp, rsp" and state.rbp_slot == 0 and state.depth == 0:
        return replace(state, caller_framed=True)
    if mnemonic == "pop" or ops.startswith(f"{reg}, ") or ops.startswith(f"{_LOW[reg]}, "):
        return None  # popping below the caller's stack, or the return address overwritten
    if ops.startswith("rsp, ") or ops == "rsp":
        found = _rsp_write(state, mnemonic, ops[5:])
        return found if found is not None and found.depth_known else None
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
    if mnemonic == "mov" and src == "rbp" and state.frame_depth is not None:
        return replace(state, depth=state.frame_depth, depth_known=True)
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
    if state.saved_sp is not None and state.frame_depth is None:
        if state.saved_sp < 0:  # the return address was popped before: nothing to find
            return None
        # cfa = [rsp + saved_at] + 8 + saved_sp: DW_OP_breg7 saved_at; DW_OP_deref; DW_OP_plus_uconst 8 + saved_sp
        expr = bytes([0x77]) + _sleb(state.saved_at) + bytes([0x06, 0x23]) + _uleb(8 + state.saved_sp)
        regs = [(RIP, RegRule(RegKind.OFFSET, -8))]
        if state.rbp_slot is not None:
            regs.append((RBP, RegRule(RegKind.OFFSET, -8 - state.rbp_slot)))
        return UnwindRule(CfaRule(CfaKind.EXPRESSION, expr=expr), tuple(regs), RIP)
    if state.ra_reg is not None:  # cfa = rsp + 8 + depth, the return address in the register
        return UnwindRule(CfaRule(CfaKind.REG_OFFSET, RSP, 8 + state.depth),
                          ((RIP, RegRule(RegKind.REGISTER, reg=_DWARF_REGS[state.ra_reg])),), RIP)
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


def _uleb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _sleb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        done = (value == 0 and not byte & 0x40) or (value == -1 and byte & 0x40)
        out.append(byte | (0 if done else 0x80))
        if done:
            return bytes(out)
