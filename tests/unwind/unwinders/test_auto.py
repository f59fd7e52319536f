"""The auto chain on gcore dumps: never worse than the best single unwinder, per-frame `via`, the opt-in scan."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from conftest import cores_helpers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trace_invariants import assert_consistent

from formats.elf import ElfFile
from unwind.core import load_core
from unwind.model import Mapping, ModuleMap, Registers, Sample, StopReason, Via
from unwind.prologue import FunctionIndex
from unwind.unwinders import get_unwinder
from unwind.unwinders.auto import AutoUnwinder
from unwind.unwinders.fp import FramePointerUnwinder
from unwind.unwinders.scan import CallChecker

LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"




def matched(trace, want: list[int]) -> int:
    """Length of the common prefix with the reference."""
    n = 0
    while n < min(len(want), len(trace.pcs)) and trace.pcs[n] == want[n]:
        n += 1
    return n


def common(a: list, b: list) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def run_all(process, unwinder):
    return {s.tid: unwinder.unwind(s, memory=process.memory_for(s)) if unwinder.name != "dwarf"
            else unwinder.unwind(s) for s in process.samples}


@pytest.mark.parametrize("name", ["fp", "nofp"])
def test_auto_equals_gdb_and_beats_every_single_unwinder(built, name):
    helpers = cores_helpers()
    gdb = helpers.gdb_frames(str(built / name), str(built / f"{name}.core"))
    process = load_core(str(built / f"{name}.core"))
    traces = {u: run_all(process, get_unwinder(u, resolver=process.resolver)) for u in ("auto", "fp", "dwarf")}
    for tid, frames in gdb.items():
        want = [pc for pc, _, _ in frames]
        assert list(traces["auto"][tid].pcs) == want
        assert matched(traces["auto"][tid], want) >= max(matched(traces[u][tid], want) for u in ("fp", "dwarf"))


@functools.lru_cache(maxsize=None)
def index_of(path: str, debug: bool = False) -> FunctionIndex:
    """Function symbols of a file (or of its separate debug file, for libc's local functions)."""
    from unwind.modules import find_debug_file

    elf = ElfFile(path)
    return FunctionIndex(ElfFile(find_debug_file(elf)) if debug else elf)


def test_auto_takes_orc_where_the_executable_has_it(built):
    """The objtool-processed build: ORC for our code, CFI for libc; gdb's backtrace on every thread."""
    if not (built / "orc.core").exists():
        pytest.fail("objtool (linux-kbuild-6.1) is missing: run bash .ci/setup")
    helpers = cores_helpers()
    gdb = helpers.gdb_frames(str(built / "orc"), str(built / "orc.core"))
    process = load_core(str(built / "orc.core"))
    traces = {u: run_all(process, get_unwinder(u, resolver=process.resolver)) for u in ("auto", "orc", "dwarf")}
    exe = [m for m in process.modules if m.path.endswith("/orc")]
    orc_frames = 0
    for tid, frames in gdb.items():
        want = [pc for pc, _, _ in frames]
        trace = traces["auto"][tid]
        assert list(trace.pcs) == want
        assert matched(trace, want) >= max(matched(traces[u][tid], want) for u in ("orc", "dwarf"))
        for callee, caller in zip(trace.frames, trace.frames[1:]):
            if any(callee.lookup_pc in m for m in exe) and caller.via == Via.ORC:
                orc_frames += 1
            elif not any(callee.lookup_pc in m for m in exe):
                assert caller.via == Via.CFI
    assert orc_frames >= 45


def describe(process, trace) -> list[str]:
    """module basename + enclosing ELF symbol of each frame (lookup address), from the symbol tables."""
    out = []
    for frame in trace.frames:
        module = process.resolver.module_for(process.modules.find(frame.pc))
        func = None
        for address in (frame.lookup_pc, frame.pc):  # the sigreturn trampoline is named at its pc
            func = func or (index_of(module.path).find(module.to_vaddr(address)) if module else None)
            if module and func is None and module.path == LIBC:  # local functions: the debug file's .symtab
                func = index_of(module.path, True).find(module.to_vaddr(address))
        out.append(f"{Path(module.path).name if module else '?'}:{func.name if func else '?'}")
    return out


def gdb_names(process, gdb_frames, exe_name: str) -> list[str]:
    out = []
    for pc, _kind, _name in gdb_frames:
        mapping = process.modules.find(pc)
        module = process.resolver.module_for(mapping)
        lookup = pc - 1 if out and not out[-1].endswith("__restore_rt") and _kind != "sig" else pc
        func = index_of(module.path).find(module.to_vaddr(lookup))
        if func is None and module.path == LIBC:
            func = index_of(module.path, True).find(module.to_vaddr(lookup))
        out.append(f"{exe_name if mapping.path.endswith('/fp') else Path(module.path).name}:{func.name}")
    return out


def test_auto_mixes_cfi_and_frame_pointers_without_unwind_tables(built):
    """nocfi: our code has frame pointers but no CFI; libc has CFI. Only auto gets whole stacks.

    gdb's own heuristics lose these stacks, so the reference is gdb on the frame-pointer build of the
    same program (same threads, same shapes), compared as module:function names from the symbol tables.
    """
    helpers = cores_helpers()
    reference = load_core(str(built / "fp.core"))
    gdb = helpers.gdb_frames(str(built / "fp"), str(built / "fp.core"))
    want = [gdb_names(reference, gdb[s.tid], "nocfi") for s in reference.samples]
    process = load_core(str(built / "nocfi.core"))
    traces = {u: run_all(process, get_unwinder(u, resolver=process.resolver)) for u in ("auto", "fp", "dwarf")}
    # dwarf with CFI alone; by default it follows the frame pointer through code its module's CFI misses,
    # as perf's libunwind does
    traces["cfi"] = run_all(process, get_unwinder("dwarf", resolver=process.resolver, fp_chain=False))
    short = {"fp": 0, "dwarf": 0, "cfi": 0}
    for i, sample in enumerate(process.samples):
        got = {u: describe(process, traces[u][sample.tid]) for u in traces}
        assert got["auto"] == want[i], f"thread {i}"
        for u in ("fp", "dwarf", "cfi"):
            short[u] += len(want[i]) - common(got[u], want[i])
            assert common(got[u], want[i]) <= common(got["auto"], want[i])
        vias = [f.via for f in traces["auto"][sample.tid].frames[1:]]
        assert Via.FP in vias and (Via.CFI in vias)
        assert traces["auto"][sample.tid].stop == StopReason.END
    assert short["fp"] > 10 and short["cfi"] > 60  # neither alone gets these stacks
    assert short["dwarf"] < 10  # CFI + the frame-pointer chain where the executable's CFI says nothing
    assert all(Via.FP in {f.via for f in trace.frames} for trace in traces["dwarf"].values())
    # each caller frame comes from its callee's source: frame pointer inside our code, CFI in libc
    exe = [m for m in process.modules if m.path.endswith("/nocfi")]
    for trace in traces["auto"].values():
        for callee, caller in zip(trace.frames, trace.frames[1:]):
            in_exe = any(callee.lookup_pc in m for m in exe)
            assert caller.via == (Via.FP if in_exe else Via.CFI)


def test_scan_recovers_frames_where_frame_pointers_fail(built):
    """nofp without tables: the frame pointer gives up after frame 1; the call-checked scan continues."""
    helpers = cores_helpers()
    gdb = helpers.gdb_frames(str(built / "nofp"), str(built / "nofp.core"))
    process = load_core(str(built / "nofp.core"))
    fp = FramePointerUnwinder(resolver=process.resolver)
    scanning = AutoUnwinder(resolver=process.resolver, sources=[], scan=True)
    plain = AutoUnwinder(resolver=process.resolver, sources=[])
    gained = 0
    checker = CallChecker()
    for sample in process.samples:
        want = set(pc for pc, _, _ in gdb[sample.tid])
        memory = process.memory_for(sample)
        by_fp = fp.unwind(sample, memory)
        by_scan = scanning.unwind(sample, memory)
        assert plain.unwind(sample, memory).pcs == by_fp.pcs
        assert by_scan.pcs[:2] == by_fp.pcs[:2]
        gained += sum(pc in want for pc in by_scan.pcs) - sum(pc in want for pc in by_fp.pcs)
        for frame in by_scan.frames:
            if frame.via == Via.SCAN:
                assert checker.after_call(memory, frame.pc)
    assert gained >= 20


def test_sources_are_the_registered_table_unwinders():
    auto = get_unwinder("auto")
    assert [via for via, _ in auto.tables] == [Via.ORC, Via.CFI]
    assert auto.checker is None and get_unwinder("auto", scan=True).checker is not None


def test_garbage_registers_terminate():
    mods = ModuleMap([Mapping(0x7F0000000000, 0x7F0000200000, 0, LIBC)])
    for regs in (Registers.of(rip=0x7F0000001234, rsp=8, rbp=0xFFFFFFFFFFFFFFF8),
                 Registers.of(rip=0, rsp=0), Registers.of(rsp=0x1000)):
        sample = Sample(regs, b"\xff" * 64, 0x1000, mods)
        assert_consistent(AutoUnwinder(scan=True).unwind(sample), sample, 256)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(0, 2**64 - 1) | st.integers(0x7F0000000000, 0x7F00001FFFFF)
                | st.integers(0x1000, 0x1400).map(lambda x: x & ~7), max_size=96),
       st.integers(0x7F0000000000, 0x7F00001FFFFF) | st.integers(0, 2**64 - 1),
       st.integers(0xFF0, 0x1400), st.integers(0, 2**64 - 1) | st.integers(0x1000, 0x1400))
def test_random_stacks_always_terminate(words, rip, rsp, rbp):
    """Random stacks over real libc code: the auto chain (CFI, fp, scan) always ends with a stop reason."""
    mods = ModuleMap([Mapping(0x7F0000000000, 0x7F0000200000, 0, LIBC)])
    sample = Sample(Registers.of(rip=rip, rsp=rsp, rbp=rbp), b"".join(w.to_bytes(8, "little") for w in words),
                    0x1000, mods)
    assert_consistent(AUTO_SCAN.unwind(sample), sample, 64)


AUTO_SCAN = AutoUnwinder(scan=True, max_depth=64)
