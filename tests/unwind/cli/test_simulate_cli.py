"""`unwind simulate` writes a perf.data that perf itself reads, and a truth line per sample in the same order."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import ROOT, need_tool

BIN = ROOT / "corpus" / "bin"


def _unwind(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "unwind", *argv], capture_output=True, text=True, cwd=ROOT)


def test_perf_script_reads_our_samples_and_lbr_in_truth_order(tmp_path):
    out = tmp_path / "sim.perf.data"
    binary = BIN / "nonlocal-glibc-static-O2-nofp"
    done = _unwind("simulate", str(binary), "--period", "2000", "--seed", "4", "--lbr-depth", "16", "-o", str(out),
                   "--", "15")
    assert done.returncode == 0, done.stderr
    native = subprocess.run([str(binary), "15"], capture_output=True, text=True).stdout
    assert done.stdout == native
    truth = [json.loads(line) for line in (tmp_path / "sim.perf.data.truth.jsonl").read_text().splitlines()]
    perf = need_tool("perf")
    script = subprocess.run([perf, "script", "-G", "-i", str(out), "-F", "tid,time,ip,brstack"], capture_output=True,
                            text=True, check=True).stdout.splitlines()
    rows = [line.split() for line in script if line.strip()]
    assert len(rows) == len(truth) > 10
    for row, rec in zip(rows, truth):
        assert int(row[0]) == rec["tid"]
        assert int(row[2], 16) == int(rec["frames"][0], 16)  # the sampled ip is truth frame 0
        assert len(row) - 3 <= 16  # at most --lbr-depth branch entries


def test_missing_output_and_missing_binary_are_one_line_errors(tmp_path):
    done = _unwind("simulate", str(BIN / "recursion-musl-static-O2-fp"))
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "-o" in done.stderr
    done = _unwind("simulate", str(tmp_path / "absent"), "-o", str(tmp_path / "x.data"))
    assert done.returncode == 1 and done.stderr.count("\n") == 1
