"""The lbr unwinder: return addresses from call sites (capstone lengths), against the simulator's truth; stitching."""

from __future__ import annotations

from conftest import ROOT
from unwind.model import BranchEntry, Mapping, ModuleMap, Registers, Sample, StopReason
from unwind.sim.sampler import Simulation
from unwind.unwinders.lbr import LbrUnwinder, call_entries

BIN = ROOT / "corpus" / "bin"
CALL, RET = 4 << 20, 6 << 20  # PERF_BR_CALL, PERF_BR_RET in perf_branch_entry.type


def test_unwinder_turns_call_sites_into_return_addresses():
    binary = BIN / "recursion-glibc-static-O2-nofp"
    sim = Simulation(str(binary), ["3"], period=500, seed=2, lbr_depth=32)
    unwinder = LbrUnwinder(depth=32)
    exact = total = 0
    for sample in sim:
        trace = unwinder.unwind(sample)
        total += 1
        # no longjmp, signal or exception here: the LBR never invents a frame, it can only lose old ones
        assert trace.pcs == sample.truth[:len(trace.pcs)]
        if sim.process.shadow.max_depth <= 32:  # nothing has fallen off the buffer yet
            assert trace.pcs == sample.truth
            assert trace.stop is StopReason.END
            exact += 1
    assert exact > 10 and total > exact  # deep(40+) overflows the buffer in the later samples


def test_end_means_exact_and_stitching_recovers_frames():
    """`end` only when the chain reaches _start, so every `end` trace is the whole true stack; a full
    buffer, or one that overflowed and shrank back, is `lbr-exhausted`; stitching completes some."""
    binary = BIN / "recursion-glibc-static-O0-fp"
    samples = list(Simulation(str(binary), ["4"], period=300, seed=9, lbr_depth=8))
    plain, stitched = LbrUnwinder(depth=8), LbrUnwinder(depth=8, stitch=True)
    exhausted = recovered = 0
    for sample in samples:
        a, b = plain.unwind(sample), stitched.unwind(sample)
        for trace in (a, b):
            if trace.stop is StopReason.END:
                assert list(trace.pcs) == list(sample.truth)
        if a.stop is StopReason.LBR_EXHAUSTED:
            exhausted += 1
            assert list(a.pcs) == list(sample.truth)[:len(a.pcs)]  # what it has is right, just short
            if b.stop is StopReason.END:
                assert len(b.frames) > len(a.frames) and b.pcs[:len(a.pcs)] == a.pcs
                recovered += 1
    assert exhausted > 0 and recovered > 0


def test_call_sites_outside_any_mapping_stop_with_bad_memory():
    sample = Sample(Registers.of(rip=0x401000, rsp=0x7FF000), lbr=(BranchEntry(0xDEAD0000, 0x401000, CALL),))
    trace = LbrUnwinder().unwind(sample)
    assert trace.pcs == (0x401000,) and trace.stop is StopReason.BAD_MEMORY


def test_a_call_site_that_is_not_a_call_is_rejected():
    binary = BIN / "recursion-glibc-static-O2-nofp"
    modules = ModuleMap([Mapping(0x400000, 0x500000, 0, str(binary))])
    # 0x401000 starts _init with `sub $0x8,%rsp` (objdump): not a call instruction
    sample = Sample(Registers.of(rip=0x401000, rsp=0x7FF000), modules=modules,
                    lbr=(BranchEntry(0x401000, 0x401100, CALL),))
    assert LbrUnwinder().unwind(sample).stop is StopReason.BAD_MEMORY


def test_branch_records_with_returns_are_replayed():
    entries = (BranchEntry(0x30, 0x40, CALL), BranchEntry(0x20, 0x15, RET), BranchEntry(0x10, 0x20, CALL))
    calls, complete = call_entries(entries)  # newest first: call 0x10, ret, call 0x30
    assert [e.source for e in calls] == [0x30] and complete
    calls, complete = call_entries((BranchEntry(0x20, 0x15, RET),))
    assert calls == [] and not complete
    hardware = (BranchEntry(0x30, 0x40, 0), BranchEntry(0x10, 0x20, 0))  # call-stack mode without types
    assert call_entries(hardware) == (list(hardware), True)
