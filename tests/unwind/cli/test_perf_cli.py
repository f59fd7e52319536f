"""Acceptance: `unwind perf --unwinder dwarf` gives perf script's user frames on real recordings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, need_tool
from formats.perfscript import parse_perf_script

sys.path.append(str(ROOT / "tests" / "data" / "perf"))
from record import record, workloads  # noqa: E402

UNWIND = [sys.executable, "-m", "unwind"]


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    need_tool("perf")
    tmp = tmp_path_factory.mktemp("perf")
    return {name: record(tmp, name, argv) for name, argv in workloads(tmp).items()}


def user_frames(sample) -> list[tuple[str | None, str | None]]:
    return [(f.module, (f.symbol or "").split("@")[0] or None) for f in sample.frames if not f.kernel]


def perf_script(path: Path) -> str:
    return subprocess.run(["perf", "script", "-i", str(path), "-F", "comm,pid,tid,time,ip,sym,dso", "--no-inline"],
                          capture_output=True, text=True, check=True).stdout


@pytest.mark.slow
@pytest.mark.parametrize("name", ["python3.11", "python3.11d", "gzip", "sqlite3", "cxx-debug-libstdc++"])
def test_same_user_frames_as_perf_script(recordings, name, tmp_path):
    theirs = list(parse_perf_script(perf_script(recordings[name])))
    env = dict(os.environ, UNWIND_CACHE_DIR=str(tmp_path / "cache"))
    ours_text = subprocess.run([*UNWIND, "perf", str(recordings[name]), "--unwinder", "dwarf"],
                               capture_output=True, text=True, check=True, env=env).stdout
    ours = list(parse_perf_script(ours_text))
    assert len(ours) == len(theirs) > 50
    agree = sum(user_frames(a) == user_frames(b) for a, b in zip(ours, theirs))
    first_diff = next(((user_frames(a), user_frames(b)) for a, b in zip(ours, theirs)
                       if user_frames(a) != user_frames(b)), None)
    assert agree / len(theirs) >= 0.99, f"{agree}/{len(theirs)} agree; first difference: {first_diff}"


def test_json_shape_and_kernel_frames(recordings, tmp_path):
    import json

    env = dict(os.environ, UNWIND_CACHE_DIR=str(tmp_path / "cache"))
    out = subprocess.run([*UNWIND, "perf", str(recordings["gzip"]), "--format", "json"], capture_output=True,
                         text=True, check=True, env=env).stdout
    samples = [json.loads(line) for line in out.splitlines()]
    assert samples and set(samples[0]) == {"comm", "pid", "tid", "time", "period", "frames", "stop"}
    frame = samples[0]["frames"][0]
    assert set(frame) == {"addr", "module", "offset", "symbol", "file", "line", "inlined", "via"}
    assert all(s["comm"] == "gzip" and isinstance(s["time"], int) for s in samples)
    assert any(f["via"] == "cfi" for s in samples for f in s["frames"])


@pytest.mark.parametrize("damage", ["truncate", "garbage-tail", "not-perf"])
def test_bad_perf_data_is_one_line_or_partial(recordings, tmp_path, damage):
    data = recordings["gzip"].read_bytes()
    broken = tmp_path / "broken.data"
    if damage == "truncate":
        broken.write_bytes(data[: len(data) * 2 // 3])
    elif damage == "garbage-tail":
        broken.write_bytes(data[:-4096] + bytes(range(256)) * 16)
    else:
        broken.write_bytes(b"not a perf file at all" * 10)
    env = dict(os.environ, UNWIND_CACHE_DIR=str(tmp_path / "cache"))
    result = subprocess.run([*UNWIND, "perf", str(broken)], capture_output=True, text=True, env=env)
    assert "Traceback" not in result.stderr
    if damage == "not-perf":
        assert result.returncode != 0 and len(result.stderr.strip().splitlines()) == 1
    else:
        assert result.returncode == 0 and result.stdout.count("\n\n") > 10
