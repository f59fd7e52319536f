"""`unwind perf --stitch`, the `[truncated]` root of profiles and the stderr counts, on a simulated deep program."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import ROOT

UNWIND = [sys.executable, "-m", "unwind"]
BINARY = ROOT / "corpus" / "bin" / "deeprec-glibc-dynamic-O2-nofp"


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """deeprec under the emulator with a 4 KiB stack copy (its stacks go up to ~24 KiB), with truth."""
    out = tmp_path_factory.mktemp("stitch") / "deeprec.perf.data"
    subprocess.run([*UNWIND, "simulate", str(BINARY), "--period", "400", "--seed", "3", "--stack-size", "4096",
                    "--max-samples", "500", "-o", str(out), "--", "40"], check=True, capture_output=True)
    return out


def perf(recording, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run([*UNWIND, "perf", str(recording), *options], capture_output=True, text=True, check=True)


def test_stitch_completes_truncated_samples_and_says_how_many(recording):
    truth = [json.loads(line) for line in open(str(recording) + ".truth.jsonl")]
    plain = perf(recording, "--format", "json")
    stitched = perf(recording, "--format", "json", "--stitch")
    before = [json.loads(line) for line in plain.stdout.splitlines()]
    after = [json.loads(line) for line in stitched.stdout.splitlines()]
    truncated = sum(s["stop"] == "bad-memory" for s in before)
    assert truncated > 100
    assert f"unwind perf: {truncated} samples truncated by the stack copy" in plain.stderr
    assert f"unwind perf: {truncated} samples truncated by the stack copy, " in stitched.stderr
    completed = int(stitched.stderr.split(" now complete")[0].rsplit("(", 1)[1])
    # deeprec's recursion: two in three truncated walks meet a deeper-reaching sample of the same frame
    # (the loader's samples end at ld.so's _start, rbp = 0: not truncated)
    assert completed > truncated * 0.6
    # every complete stack is the truth's (frame pcs, leaf first), stitched frames included; the others
    # are a leading part of it
    for sample, real in zip(after, truth):
        pcs = [f["addr"] for f in sample["frames"] if not f["inlined"]]
        assert pcs == real["frames"] if sample["stop"] == "end" else pcs == real["frames"][:len(pcs)]
    assert sum(any(f["via"] == "stitched" for f in s["frames"]) for s in after) >= completed


def test_profiles_mark_truncated_stacks_unless_told_not_to(recording):
    plain = perf(recording, "--format", "json")
    truncated = sum(json.loads(line)["stop"] == "bad-memory" for line in plain.stdout.splitlines())
    folded = perf(recording, "--format", "folded").stdout.splitlines()
    marked = [line for line in folded if "[truncated]" in line]
    assert sum(int(line.rsplit(" ", 1)[1]) for line in marked) == truncated
    assert all(line.split(";")[1] == "[truncated]" for line in marked)  # the root, right under the comm
    assert "[truncated]" not in perf(recording, "--format", "folded", "--no-truncated-marker").stdout
    # stitched: what is still cut short (an ambiguous join; none here ends on a donor's copy) keeps
    # the marker; stacks stitched up to --max-stack (depth-limit) are as complete as perf shows any
    stops = [json.loads(line)["stop"] for line in perf(recording, "--format", "json", "--stitch").stdout.splitlines()]
    left = [line for line in perf(recording, "--format", "folded", "--stitch").stdout.splitlines()
            if "[truncated]" in line]
    assert 0 < sum(int(line.rsplit(" ", 1)[1]) for line in left) == sum(
        stop in ("bad-memory", "ambiguous-stitch") for stop in stops) < truncated // 2

def test_stitch_needs_a_stitchable_unwinder(recording):
    run = subprocess.run([*UNWIND, "perf", str(recording), "--stitch", "--unwinder", "orc"], capture_output=True,
                         text=True)
    assert run.returncode != 0 and "no stitched variant" in run.stderr


def test_compare_scores_each_unwinder_with_and_without_stitching(recording):
    out = subprocess.run([*UNWIND, "compare", str(recording), "--unwinders", "dwarf,fp,lbr", "--stitch", "--format",
                          "json", "--no-memory"], capture_output=True, text=True, check=True).stdout
    report = json.loads(out)["unwinders"]
    assert list(report) == ["dwarf", "dwarf-stitched", "fp", "fp-stitched", "lbr", "lbr-stitched"]
    assert report["dwarf-stitched"]["wrong_frames"] == report["dwarf"]["wrong_frames"] == 0
    assert report["dwarf-stitched"]["exact"] > report["dwarf"]["exact"]
    assert "bad-memory" not in report["dwarf-stitched"]["stops"] or \
        report["dwarf-stitched"]["stops"]["bad-memory"] < report["dwarf"]["stops"]["bad-memory"] // 10
