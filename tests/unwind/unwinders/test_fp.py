"""The frame-pointer unwinder against gdb on gcore dumps, prologue analysis against readelf's CFA rows."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import cores_helpers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trace_invariants import assert_consistent

from formats.elf import ElfFile
from unwind.core import load_core
from unwind.model import Mapping, ModuleMap, Registers, Sample, StopReason, Via
from unwind.prologue import FunctionIndex, analyze, flow_states
from unwind.unwinders import get_unwinder
from unwind.unwinders.fp import FramePointerUnwinder

LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"




def expected_fp_prefix(gdb: list[tuple[int, str, str]], exe_range) -> int:
    """How many of gdb's frames a frame-pointer walk must reproduce: up to the first caller outside our code.

    Frame i >= 1 is produced from frame i-1's rbp chain; once a frame is inside libc (no frame
    pointer) the next step has no chain to follow. The sigreturn trampoline is crossed exactly.
    """
    lo, hi = exe_range
    for i in range(1, len(gdb)):
        pc, kind, _ = gdb[i]
        if kind == "sig":
            continue
        if not lo <= pc < hi:
            return i + 1
    return len(gdb)


def exe_range(process, exe: Path):
    maps = [m for m in process.modules if m.path == str(exe)]
    return min(m.start for m in maps), max(m.end for m in maps)


def test_fp_matches_gdb_on_frame_pointer_build(built):
    helpers = cores_helpers()
    exe, core = built / "fp", built / "fp.core"
    gdb = helpers.gdb_frames(str(exe), str(core))
    process = load_core(str(core))
    unwinder = FramePointerUnwinder(resolver=process.resolver)
    assert sorted(gdb) == sorted(s.tid for s in process.samples)
    span = exe_range(process, exe)
    for sample in process.samples:
        trace = unwinder.unwind(sample, process.memory_for(sample))
        want = [pc for pc, _, _ in gdb[sample.tid]]
        n = expected_fp_prefix(gdb[sample.tid], span)
        assert list(trace.pcs[:n]) == want[:n], f"thread {sample.tid}"
        assert all(f.via == Via.FP for f in trace.frames[1:])
    # The signal thread: handler frames, the trampoline, then the interrupted spin() at its exact pc.
    signal_thread = next(t for t, frames in gdb.items() if any(k == "sig" for _, k, _ in frames))
    trace = unwinder.unwind(*(lambda s: (s, process.memory_for(s)))(
        next(s for s in process.samples if s.tid == signal_thread)))
    sig_at = [k for _, k, _ in gdb[signal_thread]].index("sig")
    assert trace.frames[sig_at + 1].is_return_address is False
    assert trace.pcs[sig_at + 1] == gdb[signal_thread][sig_at + 1][0]


def test_fp_frame0_inside_frameless_libc_function(built):
    """Thread blocked in libc's pause(): prologue analysis of the frameless function finds its caller."""
    helpers = cores_helpers()
    exe, core = built / "fp", built / "fp.core"
    gdb = helpers.gdb_frames(str(exe), str(core))
    process = load_core(str(core))
    tid, frames = next((t, f) for t, f in gdb.items() if f[1][2] == "wait_in_libc")
    sample = next(s for s in process.samples if s.tid == tid)
    trace = FramePointerUnwinder(resolver=process.resolver).unwind(sample, process.memory_for(sample))
    assert list(trace.pcs[:4]) == [pc for pc, _, _ in frames[:4]]


@pytest.mark.parametrize("where", ["entry", "pushed", "ret"])
def test_fp_frame0_prologue_states_against_gdb(built, tmp_path, where):
    """Stop the fp build at compare's entry, after `push rbp`, and at its `ret`; gcore; match gdb."""
    helpers = cores_helpers()
    exe = built / "fp"
    elf = ElfFile(exe)
    func = next(f for f in FunctionIndex(elf)._funcs if f.name == "compare")
    code = elf.read_vaddr(func.start, func.size)
    import capstone

    insns = list(capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64).disasm_lite(code, 0))
    push = next(i for i, insn in enumerate(insns) if insn[2] == "push" and insn[3] == "rbp")
    offset = {"entry": 0, "pushed": insns[push + 1][0],
              "ret": next(a for a, _, m, _ in insns if m == "ret")}[where]
    core, threads, tid = helpers.stop_at(exe, f"compare+{offset}", tmp_path, where)
    process = load_core(str(core))
    sample = next(s for s in process.samples if s.tid == tid)
    trace = FramePointerUnwinder(resolver=process.resolver).unwind(sample, process.memory_for(sample))
    want = [pc for pc, _, _ in threads[tid]]
    # compare <- msort_with_tmp (libc): frame 0 and its caller come from the prologue rule.
    assert list(trace.pcs[:2]) == want[:2]
    assert trace.frames[0].pc - process.resolver.module_for(process.modules.find(trace.frames[0].pc)).bias \
        == func.start + offset


def readelf_cfa_rows(path: str):
    """(fde start, fde end, [(loc, cfa text)]) from readelf --debug-dump=frames-interp."""
    # readelf exits 1 on libc for unrelated warnings; the rows are all printed
    text = subprocess.run(["readelf", "--debug-dump=frames-interp", "-W", path], capture_output=True, text=True).stdout
    fdes = []
    for line in text.splitlines():
        m = re.search(r"FDE cie=\w+ pc=([0-9a-f]+)\.\.([0-9a-f]+)", line)
        if m:
            fdes.append((int(m[1], 16), int(m[2], 16), []))
            continue
        m = re.match(r"^([0-9a-f]{16}) (\S+)", line)
        if m and fdes:
            fdes[-1][2].append((int(m[1], 16), m[2]))
    return fdes


def prologue_agreement(path: str, every: int = 1, linear: bool = False):
    """(agree, disagree, undecided) of analyze() vs readelf's CFA at every instruction of FDE-covered functions;
    `linear`: of the straight decode alone (the fallback where the control flow gives no answer)."""
    agree = disagree = undecided = 0
    for answer, cfa in prologue_answers(path, every, linear):
        if answer is None:
            undecided += 1
        elif answer == cfa:
            agree += 1
        else:
            disagree += 1
    return agree, disagree, undecided


def prologue_answers(path: str, every: int, linear: bool = False):
    """(analyze()'s CFA as readelf prints it or None, readelf's CFA) at every instruction of every `every`-th FDE
    that starts a function."""
    import capstone

    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    elf = ElfFile(path)
    index = FunctionIndex(elf)
    for n, (start, end, rows) in enumerate(readelf_cfa_rows(path)):
        func = index.find(start)
        if n % every or func is None or func.start != start or not rows:
            continue
        code = elf.read_vaddr(start, end - start)
        states = {} if linear else flow_states(code, start)  # once per function, as the fp unwinder keeps them
        after_ret = False
        for address, _size, mnemonic, _ops in md.disasm_lite(code, start):
            if after_ret and mnemonic.startswith("nop"):
                continue  # alignment padding after the last ret is never executed
            after_ret = mnemonic == "ret"
            cfa = [c for loc, c in rows if loc <= address][-1]
            rule = analyze(code, start, address, end, states)
            yield (None if rule is None else f"{'rsp' if rule.cfa.reg == 7 else 'rbp'}{rule.cfa.offset:+d}"), cfa


@pytest.mark.parametrize("name", ["fp", "nofp"])
def test_prologue_analysis_equals_readelf_on_test_programs(built, name):
    agree, disagree, undecided = prologue_agreement(str(built / name))
    assert agree > 100 and disagree == 0 and undecided <= 12


def test_prologue_analysis_mostly_equals_readelf_on_libc():
    agree, disagree, undecided = prologue_agreement(LIBC, every=10)
    assert agree > 5000
    assert agree / (agree + disagree + undecided) > 0.98


def test_control_flow_is_right_where_the_straight_decode_is_and_on_more():
    """Following jumps (shrink-wrapped prologues, blocks after a `ret` or jumped to from elsewhere) against the
    straight decode, both against readelf's CFA, on every 5th function of libc: never wrong where the straight
    decode is right (the whole library: 0 of 97,166 instructions), and wrong on fewer (959 against 1,422)."""
    flow = list(prologue_answers(LIBC, every=5))
    straight = list(prologue_answers(LIBC, every=5, linear=True))
    assert len(flow) == len(straight) > 10000
    assert not [i for i, ((mine, cfa), (old, _)) in enumerate(zip(flow, straight)) if mine != cfa and old == cfa]
    wrong = sum(mine is not None and mine != cfa for mine, cfa in flow)
    assert wrong < 0.75 * sum(old is not None and old != cfa for old, cfa in straight)


def test_caller_unframed_where_a_function_builds_its_callers_frame():
    """V8's Builtins_BaselineOutOfLinePrologue (objdump of /usr/bin/node: `pop %r15; push %rbp; mov %rsp,%rbp;
    push ...; push %r15; ret` on its main path) builds the frame of the baseline code that called it: up to
    its `mov %rsp,%rbp` that caller has none (return address at its sp, rbp its caller's), from there on it
    has. No libc function builds its caller's frame (every 5th function, every instruction)."""
    from unwind.prologue import caller_unframed

    node = ElfFile(shutil.which("node") or "/usr/bin/node")
    func = next(f for f in FunctionIndex(node)._funcs if f.name == "Builtins_BaselineOutOfLinePrologue")
    code = node.read_vaddr(func.start, func.size)
    states = flow_states(code, func.start)
    mov = next(a for a in sorted(states) if a > func.start and states[a][0] == "mov" and
               code[a - func.start:a - func.start + 3] == bytes.fromhex("4889e5"))  # mov %rsp,%rbp
    assert code[mov - func.start - 3:mov - func.start] == bytes.fromhex("415f55")  # pop %r15; push %rbp
    before = [a for a in states if a <= mov]
    ret = min(a for a in states if a > mov and states[a][0] == "ret")  # the main path's `push %r15; ret`
    after = [a for a in states if mov < a <= ret]
    assert len(before) >= 8 and all(caller_unframed(states, a) for a in before)
    assert after and not any(caller_unframed(states, a) for a in after)
    libc = ElfFile(LIBC)
    for f in FunctionIndex(libc)._funcs[::5]:
        body = libc.read_vaddr(f.start, f.size) if 0 < f.size < 1 << 16 else None
        if body:
            libc_states = flow_states(body, f.start)
            assert not any(caller_unframed(libc_states, a) for a in libc_states), f.name


def test_frameless_realignment_keeps_the_entry_rsp_at_the_top():
    """V8's Builtins_DeoptimizationEntry_Eager (objdump of /usr/bin/node): `sub $0x80,%rsp`, 16 pushes, `mov
    %rsp,%r10; sub $8,%rsp; and $-16,%rsp; mov %r10,(%rsp); ...; call *%rax` (Deoptimizer::New), `mov (%rsp),%rsp`.
    After that call the return address is at [[rsp] + 0x100] and the caller's rsp [rsp] + 0x108; after `mov
    (%rsp),%rsp` the depth is known again (rsp + 0x108)."""
    from unwind.rules import CfaKind

    node = ElfFile(shutil.which("node") or "/usr/bin/node")
    func = next(f for f in FunctionIndex(node)._funcs if f.name == "Builtins_DeoptimizationEntry_Eager")
    code = node.read_vaddr(func.start, func.size)
    states = flow_states(code, func.start)
    ordered = sorted(states)
    call = next(a for a in ordered if states[a][0] == "call")
    after = ordered[ordered.index(call) + 1]
    rule = analyze(code, func.start, after, func.start + func.size, states)
    assert rule is not None and rule.cfa.kind == CfaKind.EXPRESSION

    class Stack:
        words = {0x7000: 0x8000, 0x8100: 0x401234, 0x8050: 0x9000}  # [rsp], the return address, rbp (its push)

        def read_u64(self, address: int) -> int:
            return self.words[address]

        def read(self, address: int, size: int) -> bytes:
            assert size == 8
            return self.words[address].to_bytes(8, "little")

    cfa, caller = rule.step_values({7: 0x7000, 6: 0x9000, 16: after}, Stack())
    assert (cfa, caller[16], caller[7], caller[6]) == (0x8108, 0x401234, 0x8108, 0x9000)
    restored = next(a for a in ordered if a > after and states[a][0] == "mov"
                    and code[a - func.start:a - func.start + 4] == bytes.fromhex("488b2424"))  # mov (%rsp),%rsp
    assert analyze(code, func.start, ordered[ordered.index(restored) + 1], func.start + func.size, states) == \
        rule.__class__(rule.cfa.__class__(CfaKind.REG_OFFSET, 7, 0x108), rule.regs, rule.ra_reg)


# ---- bad input: synthetic stacks ----------------------------------------------------------

STACK = 0x7FFF0000


def sample_with(words: list[int], **regs) -> Sample:
    stack = b"".join(w.to_bytes(8, "little") for w in words)
    return Sample(Registers.of(**regs), stack, STACK, ModuleMap())


def test_cyclic_rbp_chain_stops_with_loop():
    # [STACK+0] = STACK (rbp points to itself), [STACK+8] = a return address
    sample = sample_with([STACK, 0x401000, 0, 0], rip=0x400000, rsp=STACK, rbp=STACK)
    trace = FramePointerUnwinder().unwind(sample)
    assert trace.stop == StopReason.LOOP
    assert trace.pcs == (0x400000, 0x401000)


def test_wild_rbp_stops_with_bad_memory():
    sample = sample_with([0xDEAD0000, 0x401000], rip=0x400000, rsp=STACK, rbp=0x10000000)
    trace = FramePointerUnwinder().unwind(sample)
    assert trace.stop == StopReason.BAD_MEMORY and trace.pcs == (0x400000,)


def test_misaligned_rbp_is_a_bad_rule():
    sample = sample_with([0, 0x401000, 0], rip=0x400000, rsp=STACK, rbp=STACK + 3)
    assert FramePointerUnwinder().unwind(sample).stop == StopReason.BAD_RULE


def test_zero_rbp_is_the_outermost_frame():
    # frame 0 at STACK: saved rbp 0, return address 0x401000; the caller's rbp 0 ends the chain
    sample = sample_with([0, 0x401000, 0, 0], rip=0x400000, rsp=STACK, rbp=STACK)
    trace = FramePointerUnwinder().unwind(sample)
    assert trace.pcs == (0x400000, 0x401000) and trace.stop == StopReason.END


def test_stack_bytes_missing_and_unknown_registers():
    assert FramePointerUnwinder().unwind(Sample(Registers.of(rip=0x400000))).stop in (
        StopReason.BAD_RULE, StopReason.BAD_MEMORY)
    assert FramePointerUnwinder().unwind(Sample(Registers())).frames == ()


def test_registered_by_name():
    assert get_unwinder("fp").name == "fp"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(0, 2**64 - 1) | st.integers(STACK, STACK + 512).map(lambda x: x & ~7), max_size=64),
       st.integers(0, 2**64 - 1), st.integers(STACK - 64, STACK + 600), st.integers(0, 2**64 - 1))
def test_random_stacks_always_terminate(words, rip, rsp, rbp):
    mods = ModuleMap([Mapping(0x400000, 0x500000, 0, "/nonexistent/binary")])
    sample = Sample(Registers.of(rip=rip, rsp=rsp, rbp=rbp),
                    b"".join(w.to_bytes(8, "little") for w in words), STACK, mods)
    assert_consistent(FramePointerUnwinder(max_depth=64).unwind(sample), sample, 64)


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=200), st.integers(0, 220))
def test_prologue_analysis_of_random_code_never_raises(code, offset):
    from unwind.rules import UnwindRule

    rule = analyze(code, 0x1000, 0x1000 + offset)
    assert rule is None or isinstance(rule, UnwindRule)
    rule = analyze(code, 0x1000, 0x1000 + offset, 0x1000 + len(code))  # the whole function: its control flow
    assert rule is None or isinstance(rule, UnwindRule)
