"""Samples: deterministic per seed, jittered period, perf-like register and stack capture, the truth sidecar."""

from __future__ import annotations

import json
import struct

import pytest

from conftest import ROOT
from unwind.errors import UsageError
from unwind.model import Reg
from unwind.sim.sampler import Simulation, read_truth, simulate, write_truth

BIN = ROOT / "corpus" / "bin"
BINARY = str(BIN / "frames-glibc-dynamic-O2-fp")


def test_same_seed_same_samples_other_seed_other_instants():
    """Runs repeat bit for bit (rdtsc answers from a counter, getrandom and AT_RANDOM from the seed)."""
    a = [(s.time, s.truth, s.stack, s.registers) for s in simulate(BINARY, ["20"], period=2000, seed=1, max_samples=30)]
    b = [(s.time, s.truth, s.stack, s.registers) for s in simulate(BINARY, ["20"], period=2000, seed=1, max_samples=30)]
    c = [s.time for s in simulate(BINARY, ["20"], period=2000, seed=2, max_samples=30)]
    assert a == b and len(a) == 30
    assert [s[0] for s in a] != c


def test_intervals_are_jittered_within_a_quarter_of_the_period():
    times = [s.time for s in simulate(BINARY, ["20"], period=4000, seed=3, max_samples=50)]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert all(3000 <= g <= 5000 for g in gaps)
    assert len(set(gaps)) > 10


def test_sample_holds_every_register_and_the_stack_from_rsp():
    sim = Simulation(BINARY, ["20"], period=3000, seed=4, max_samples=20, stack_size=4096)
    for sample in sim:
        assert set(sample.registers.values) == set(Reg)
        sp = sample.registers[Reg.RSP]
        assert sample.stack_base == sp
        assert 0 < len(sample.stack) <= 4096
        live = bytes(sim.process.uc.mem_read(sp, len(sample.stack)))
        assert sample.stack == live
        # each live return address of the truth sits in the copied stack (or above it when the stack is deep)
        words = {struct.unpack_from("<Q", sample.stack, i)[0] for i in range(0, len(sample.stack) - 7, 8)}
        inner = [a for a in sample.truth[1:4]]
        assert all(a in words for a in inner)
        assert sample.modules.find(sample.registers.pc) is not None
        assert sample.comm == "frames-glibc-dy"


def test_truth_sidecar_round_trip(tmp_path):
    samples = list(simulate(BINARY, ["10"], period=5000, seed=5, max_samples=10))
    out = tmp_path / "x.perf.data.truth.jsonl"
    assert write_truth(samples, out) == 10
    lines = out.read_text().splitlines()
    first = json.loads(lines[0])
    assert set(first) == {"time", "tid", "frames"}
    assert all(f.startswith("0x") for f in first["frames"])
    assert read_truth(out) == [(s.time, s.tid, s.truth) for s in samples]


@pytest.mark.parametrize("options", [{"period": 0}, {"stack_size": 0}, {"stack_size": 70000}, {"lbr_depth": 12}])
def test_bad_options_are_usage_errors(options):
    with pytest.raises(UsageError):
        Simulation(BINARY, **options)
