"""Emulator-based sampler: runs a program under unicorn and samples it with exact ground truth.

    from unwind.sim import simulate
    for sample in simulate("corpus/bin/recursion-glibc-static-O2-nofp", period=5000, seed=1):
        sample.truth   # (pc, return address, ..., outermost)
        sample.lbr     # the LBR call-stack buffer, newest first
"""

from .core import write_core
from .machine import Process, RunReport
from .record import record
from .sampler import Simulation, read_truth, simulate, write_truth

__all__ = ["Process", "RunReport", "Simulation", "read_truth", "record", "simulate", "write_core", "write_truth"]
