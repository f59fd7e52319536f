"""Test helpers for `unwind pid`: build the multi-threaded targets, run one until it says "ready PID",
and read the ptrace state of its threads from /proc.

Targets: tests/data/core/parked.c (C: recursion, a signal handler, a sigaltstack handler, qsort's
comparator, a thread blocked in libc's pause), threads.cpp (C++: condition variable, std::sort
comparator, a template blocked in read), threads.py (Python 3.11: lock, sleep, read; echoes stdin).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORE_DATA = HERE.parent / "core"
PYTHON = "/usr/bin/python3.11"


def build(out: Path) -> dict[str, list[str]]:
    """Build the targets into `out`; name -> argv."""
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(["sh", str(CORE_DATA / "build.sh"), str(out)], check=True, capture_output=True)
    subprocess.run(["g++", "-O2", "-g", "-pthread", str(HERE / "threads.cpp"), "-o", str(out / "cxx")],
                   check=True, capture_output=True)
    return {"c-nofp": [str(out / "nofp"), "12"], "c-fp": [str(out / "fp"), "12"],
            "c-nocfi": [str(out / "nocfi"), "12"], "cxx": [str(out / "cxx")],
            "python": [PYTHON, str(HERE / "threads.py")]}


@contextlib.contextmanager
def running(argv: list[str], timeout: float = 30.0) -> Iterator[subprocess.Popen]:
    """The program started with pipes for stdin/stdout, once it printed "ready PID"; killed afterwards."""
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        line = proc.stdout.readline() if ready else ""
        if not line.startswith("ready "):
            raise RuntimeError(f"{argv[0]} did not get ready: {line!r}")
        yield proc
    finally:
        proc.kill()
        proc.wait()


def tasks(pid: int) -> dict[int, tuple[str, int]]:
    """tid -> (state letter, TracerPid) of every thread still there."""
    out = {}
    for name in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{name}/status") as fh:
                fields = dict(line.split(":\t", 1) for line in fh.read().splitlines() if ":\t" in line)
        except (FileNotFoundError, ProcessLookupError):
            continue
        out[int(name)] = (fields["State"].split()[0], int(fields["TracerPid"]))
    return out


def wait_untraced(pid: int, timeout: float = 10.0) -> dict[int, tuple[str, int]]:
    """The threads' states once none is traced any more (or after `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        found = tasks(pid)
        if all(tracer == 0 for _state, tracer in found.values()) or time.monotonic() > deadline:
            return found
        time.sleep(0.01)


def echo(proc: subprocess.Popen, word: str, timeout: float = 10.0) -> str:
    """Send a line to the Python target and read its echo: the target's main thread runs."""
    proc.stdin.write(word + "\n")
    proc.stdin.flush()
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline().strip() if ready else ""


def unwind_pid(*argv: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(unwind_pid_argv(*argv), capture_output=True, text=True, check=False, **kwargs)


def kill_when_traced(pid: int, argv: list[str], timeout: float = 60.0) -> bool:
    """Start `unwind pid` on `pid` and SIGKILL it as soon as it holds one of the target's threads;
    False when it finished before any was seen traced."""
    ours = subprocess.Popen([sys.executable, "-m", "unwind", "pid", *argv, str(pid)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    try:
        while ours.poll() is None and time.monotonic() < deadline:
            if any(tracer == ours.pid for _state, tracer in tasks(pid).values()):
                os.kill(ours.pid, signal.SIGKILL)
                return True
        return False
    finally:
        if ours.poll() is None:
            ours.kill()
        ours.wait()


def unwind_pid_argv(*argv: str) -> list[str]:
    return [sys.executable, "-m", "unwind", "pid", *argv]
