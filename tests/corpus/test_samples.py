"""The captured sample sets: perf reads each one, one truth line per sample, and a fresh simulation reproduces them."""

from __future__ import annotations

import json
import importlib.util
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, need_tool

from unwind.sim.sampler import Simulation, truth_record

CORPUS = ROOT / "corpus"
_spec = importlib.util.spec_from_file_location("corpus_build", CORPUS / "build.py")
corpus_build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(corpus_build)
CAPTURES = corpus_build.CAPTURES


@pytest.mark.parametrize("name,period,args", CAPTURES)
def test_captured_set_is_read_by_perf_and_reproducible(name, period, args):
    data = CORPUS / "samples" / f"{name}.perf.data"
    truth = [json.loads(line) for line in Path(f"{data}.truth.jsonl").read_text().splitlines()]
    out = subprocess.run([need_tool("perf"), "script", "-G", "-i", str(data), "-F", "ip"], capture_output=True,
                         text=True, check=True).stdout.split()
    assert [int(ip, 16) for ip in out] == [int(rec["frames"][0], 16) for rec in truth]
    # the loader's view of /etc/ld.so.cache is the copy the capture pinned, not this host's (apt-get rewrites it)
    fresh = [truth_record(s) for s in Simulation(str(CORPUS / "bin" / name), args, period=period, seed=1,
                                                 exec_path=f"/corpus/bin/{name}",
                                                 sysroot=str(CORPUS / corpus_build.SYSROOT.name))]
    assert fresh == truth
