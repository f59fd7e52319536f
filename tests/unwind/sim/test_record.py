"""record() -> perf.data -> PerfSession gives back the simulator's samples: registers, stack, LBR, maps, truth order."""

from __future__ import annotations

from conftest import ROOT
from unwind.model import Reg
from unwind.perfsession import PerfSession
from unwind.sim.record import record
from unwind.sim.sampler import Simulation, read_truth

BIN = ROOT / "corpus" / "bin"


def test_perf_data_round_trips_through_the_session_reader(tmp_path):
    binary = str(BIN / "libcalls-glibc-dynamic-O2-fp")
    data = tmp_path / "r.perf.data"
    summary = record(binary, data, ["1"], period=4000, seed=8, lbr_depth=16)
    direct = list(Simulation(binary, ["1"], period=4000, seed=8, lbr_depth=16))
    read = list(PerfSession(data).samples())
    truth = read_truth(summary.truth_path)
    assert len(read) == len(direct) == len(truth) == summary.samples > 20
    for ours, back, (time, tid, frames) in zip(direct, read, truth):
        assert (back.time, back.tid) == (ours.time, ours.tid) == (time, tid)
        assert frames == ours.truth
        for reg in Reg:
            assert back.registers[reg] == ours.registers[reg]
        assert back.stack_base == ours.stack_base and back.stack == ours.stack
        assert [(e.source, e.target) for e in back.lbr] == [(e.source, e.target) for e in ours.lbr]
        mapping = back.modules.find(ours.registers.pc)
        assert mapping is not None and mapping.path == ours.modules.find(ours.registers.pc).path


def test_threads_get_their_own_tid_fork_and_comm(tmp_path):
    data = tmp_path / "t.perf.data"
    summary = record(str(BIN / "threads-glibc-dynamic-O2-fp"), data, ["3"], period=9000, seed=2)
    truth = read_truth(summary.truth_path)
    read = list(PerfSession(data).samples())
    assert [s.tid for s in read] == [tid for _, tid, _ in truth]
    assert len({tid for _, tid, _ in truth}) == 4  # main + 3 workers
    assert all(s.pid == 4242 and s.comm == "threads-glibc-d" for s in read)
