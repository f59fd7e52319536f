"""`unwind stacks`: raw stacks from bpftrace and address lists, symbolised."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import need_tool

UNWIND = [sys.executable, "-m", "unwind"]

BUSY = r"""
#include <stdio.h>
#include <unistd.h>
volatile long sink;
__attribute__((noinline)) long inner(long n) { long s = 0; for (long i = 0; i < n; i++) s += i * i % 7 + sink; return s; }
__attribute__((noinline)) long outer(long n) { return inner(n) + inner(n / 2); }
int main(void) {
    volatile long total = 0;
    for (;;) total += outer(2000000);  /* until the test kills it */
}
"""


@pytest.fixture(scope="module")
def busy(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("stacks")
    (tmp / "busy.c").write_text(BUSY)
    subprocess.run(["gcc", "-O1", "-g", "-fno-omit-frame-pointer", "busy.c", "-o", "busy"], cwd=tmp, check=True)
    return tmp / "busy"


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, **kw)


def test_bpftrace_recording_is_symbolised_like_bpftrace(busy, tmp_path):
    need_tool("bpftrace")
    proc = subprocess.Popen([str(busy)], stdout=subprocess.DEVNULL)
    try:
        script = (f'profile:hz:499 /pid == {proc.pid}/ {{ @[ustack(perf)] = count(); }} '
                  'interval:s:2 { exit(); }')
        recorded = run(["bpftrace", "-e", script], timeout=60)
        assert recorded.returncode == 0, recorded.stderr
        maps = Path(f"/proc/{proc.pid}/maps").read_text()  # while the process is alive, as bpftrace saw it
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    (tmp_path / "stacks.txt").write_text(recorded.stdout)
    (tmp_path / "maps.txt").write_text(maps)
    env = dict(os.environ, UNWIND_CACHE_DIR=str(tmp_path / "cache"))
    ours = run([*UNWIND, "stacks", str(tmp_path / "stacks.txt"), "--maps", str(tmp_path / "maps.txt"),
                "--format", "json"], env=env, check=True).stdout
    # bpftrace's perf mode: "\t<hex address> <symbol>+<offset> (<module>)" per frame.
    theirs = {int(a, 16): sym for a, sym in re.findall(r"^\t *([0-9a-f]+) (\S+?)(?:\+\d+)? \(", recorded.stdout,
                                                        re.M)}
    checked = set()
    for line in ours.splitlines():
        for frame in json.loads(line)["frames"]:
            expected = theirs.get(int(frame["addr"], 16))
            if expected and expected != "[unknown]" and frame["module"] == str(busy):
                assert frame["symbol"] == expected
                checked.add(expected)
    # Which distinct stacks bpftrace keeps varies from run to run (`outer` was missing from one);
    # the leaf and main are in every one of them.
    assert {"inner", "main"} <= checked


def test_addresses_build_ids_and_counts(busy, tmp_path):
    nm = run(["nm", str(busy)], check=True).stdout
    inner = int(re.search(r"^([0-9a-f]+) T inner$", nm, re.M).group(1), 16)
    outer = int(re.search(r"^([0-9a-f]+) T outer$", nm, re.M).group(1), 16)
    build_id = run(["readelf", "-n", str(busy)], check=True).stdout.split("Build ID: ")[1].split()[0]
    text = f"{inner + 4:#x} {outer + 9:#x}\n{build_id}+{inner + 4:#x}\n"  # offsets == vaddrs in the text segment?
    (tmp_path / "in.txt").write_text(text)
    env = dict(os.environ, UNWIND_CACHE_DIR=str(tmp_path / "cache"), )
    folded = run([*UNWIND, "stacks", str(tmp_path / "in.txt"), "--obj", str(busy), "--format", "folded"],
                 env=env, check=True).stdout
    assert "outer;inner 1" in folded


def test_bad_stack_text_is_one_line(tmp_path):
    (tmp_path / "bad.txt").write_text("0x1000 not-an-address\n")
    result = run([*UNWIND, "stacks", str(tmp_path / "bad.txt")])
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
