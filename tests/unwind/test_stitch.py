"""Stitching (unwind.stitch) against the emulator's exact truth on the deep corpus programs.

The programs (corpus/src/deeprec.c, interp.c, pool.c) run under the emulator with a 4 KiB stack
copy, far less than their stacks; every frame the stitched unwinders add must be the truth's.
"""

from __future__ import annotations

from functools import lru_cache

import pytest

from conftest import ROOT
from unwind.model import Sample, StopReason, Trace, Via
from unwind.sim.sampler import Simulation
from unwind.stitch import StitchScore, truncated_by_copy
from unwind.unwinders import available, get_unwinder

BIN = ROOT / "corpus" / "bin"
RUNS = {"deeprec": ["40"], "interp": ["30"], "pool": ["3"]}


@lru_cache(maxsize=None)
def simulated(program: str, build: str, stack_size: int = 4096) -> tuple[Sample, ...]:
    binary = BIN / f"{program}-glibc-dynamic-O2-{build}"
    return tuple(Simulation(str(binary), RUNS[program], period=400, seed=3, max_samples=700, stack_size=stack_size))


def stitched_traces(name: str, samples: tuple[Sample, ...]) -> list[Trace]:
    return list(get_unwinder(name).unwind_all(samples))


def test_stitched_names_are_registry_names():
    assert {"dwarf-stitched", "fp-stitched", "lbr-stitched"} <= set(available())
    assert get_unwinder("dwarf-stitched").name == "dwarf-stitched"
    assert get_unwinder("lbr-stitched").stitch


@pytest.mark.parametrize("program", sorted(RUNS))
def test_dwarf_stitched_frames_are_all_right_and_complete_truncated_stacks(program):
    samples = simulated(program, "nofp")
    plain = [get_unwinder("dwarf").unwind(s) for s in samples]
    stitched = stitched_traces("dwarf-stitched", samples)
    truncated = sum(truncated_by_copy(s, t) for s, t in zip(samples, plain))
    scores = [StitchScore.of(t, s.truth or ()) for t, s in zip(stitched, samples)]
    assert truncated > 100  # a 4 KiB copy truncates these stacks
    assert sum(sc.stitched > 0 for sc in scores) > truncated // 2
    assert sum(sc.wrong for sc in scores) == 0
    exact_plain = sum(t.pcs == s.truth for t, s in zip(plain, samples))
    exact_stitched = sum(t.pcs == s.truth for t, s in zip(stitched, samples))
    assert exact_stitched > exact_plain
    for before, after in zip(plain, stitched):  # stitching only appends to truncated walks
        assert after.frames[:len(before.frames)] == before.frames
        if after.frames != before.frames:
            assert before.stop is StopReason.BAD_MEMORY
            assert {f.via for f in after.frames[len(before.frames):]} == {Via.STITCHED}


def test_fp_stitched_frames_are_all_right():
    samples = simulated("deeprec", "fp")
    scores = [StitchScore.of(t, s.truth or ()) for t, s in zip(stitched_traces("fp-stitched", samples), samples)]
    assert sum(sc.stitched > 0 for sc in scores) > 100
    assert sum(sc.wrong for sc in scores) == 0


def test_look_ahead_lets_later_samples_complete_earlier_ones():
    samples = simulated("interp", "nofp")
    dwarf = get_unwinder("dwarf")
    first = next(s for s in samples if truncated_by_copy(s, dwarf.unwind(s)))
    stream = [first, *(s for s in samples if s.tid == first.tid and s is not first)]
    without = next(get_unwinder("dwarf-stitched", lookahead=0).unwind_all(stream))
    ahead = next(get_unwinder("dwarf-stitched").unwind_all(stream))  # default look-ahead: 256 samples
    assert without.stop is StopReason.BAD_MEMORY
    assert ahead.stop is not StopReason.BAD_MEMORY and ahead.pcs == first.truth
