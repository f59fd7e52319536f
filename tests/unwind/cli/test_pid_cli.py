"""`unwind pid`: text identical to `eu-stack -p` on every thread of real C, C++ and Python programs,
the JSON shape, and one-line errors for bad, foreign, zombie and vanishing processes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time

import pytest
from conftest import load_helper, need_tool

targets = load_helper("data/live/targets.py", "unwind_test_live_targets")


@pytest.fixture(scope="session")
def programs(tmp_path_factory) -> dict[str, list[str]]:
    return targets.build(tmp_path_factory.getbasetemp() / "live")


def eu_stack(pid: int, *flags: str) -> str:
    """eu-stack's answer once the threads have settled (two runs in a row agree): a target may still be
    on its way to its parking place just after it printed "ready"."""
    argv = [need_tool("eu-stack"), *flags, "-p", str(pid)]
    last = None
    for _attempt in range(50):
        text = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False).stdout
        if text == last:
            return text
        last = text
        time.sleep(0.05)
    pytest.fail(f"the threads of {pid} never settled")


@pytest.mark.parametrize("name,unwinder", [("c-nofp", "auto"), ("c-nofp", "dwarf"), ("c-fp", "auto"),
                                           ("cxx", "auto"), ("python", "auto")])
def test_text_is_eu_stacks(programs, name, unwinder):
    with targets.running(programs[name]) as proc:
        theirs = eu_stack(proc.pid)
        ours = targets.unwind_pid(str(proc.pid), "--unwinder", unwinder)
        assert ours.returncode == 0, ours.stderr
        assert ours.stdout == theirs
        assert len(re.findall(r"^TID ", theirs, re.MULTILINE)) == len(targets.tasks(proc.pid)) >= 4
        assert all(tracer == 0 and state != "t" for state, tracer in targets.tasks(proc.pid).values())


def test_frame_pointer_only_code_as_gdb(programs):
    """No CFI in our code: eu-stack's fallback skips the caller of every frame-0 function there, gdb does not
    (it does stray past compare into a bogus 0x1 frame, so up to its first unnamed frame)."""
    cores = load_helper("data/core/cores.py", "unwind_test_cores")
    with targets.running(programs["c-nocfi"]) as proc:
        eu_stack(proc.pid)  # settled
        out = targets.unwind_pid(str(proc.pid), "--format", "json")
        gdb_py = programs["c-nocfi"][0] + ".gdb.py"
        with open(gdb_py, "w") as fh:
            fh.write(cores.GDB_SCRIPT)
        text = subprocess.run([need_tool("gdb"), "-nx", "-batch", "-p", str(proc.pid), "-x", gdb_py],
                              capture_output=True, text=True, timeout=120, check=False).stdout
    assert out.returncode == 0, out.stderr
    ours = {t["tid"]: t for t in json.loads(out.stdout)["threads"]}
    theirs = {int(line.split()[1]): line.split()[2:] for line in text.splitlines() if line.startswith("THREAD ")}
    assert set(ours) == set(theirs) and len(ours) == 6
    for tid, frames in theirs.items():
        named = []
        for frame in frames:
            pc, _kind, name = frame.split(":", 2)
            if name == "?":
                break
            named.append(int(pc, 16))
        pcs = [int(f["addr"], 16) for f in ours[tid]["frames"]]
        assert len(named) >= 2 and pcs[:len(named)] == named, (tid, frames)
        assert ours[tid]["stop"] == "end" and ours[tid]["frames"][-1]["symbol"] in ("_start", "clone3")


def test_deleted_and_replaced_binary(programs, tmp_path):
    """The executable is deleted and another file put at its path while it runs: the mapped inode
    (/proc/PID/map_files) still names every frame as eu-stack did before the swap."""
    exe = tmp_path / "parked"
    shutil.copy(programs["c-nofp"][0], exe)
    with targets.running([str(exe), "12"]) as proc:
        theirs = eu_stack(proc.pid)
        exe.unlink()
        shutil.copy(programs["c-fp"][0], exe)  # same path, different code
        ours = targets.unwind_pid(str(proc.pid))
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == theirs and " recurse\n" in theirs


def test_raw_names_are_eu_stack_r(programs):
    with targets.running(programs["cxx"]) as proc:
        theirs = eu_stack(proc.pid, "-r")
        ours = targets.unwind_pid("-r", str(proc.pid))
        assert ours.returncode == 0, ours.stderr
        assert ours.stdout == theirs and "_ZN6shapes" in ours.stdout
        assert "shapes::wait_forever()" in targets.unwind_pid(str(proc.pid)).stdout


def test_json_every_thread(programs):
    with targets.running(programs["c-nofp"]) as proc:
        out = targets.unwind_pid(str(proc.pid), "--format", "json", "--inlines")
        tids = set(targets.tasks(proc.pid))
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert {t["tid"] for t in doc["threads"]} == tids
    keys = {"addr", "module", "offset", "symbol", "file", "line", "inlined", "via"}
    for thread in doc["threads"]:
        assert thread["stop"] == "end" and thread["frames"][0]["via"] == "context"
        assert all(keys <= set(f) for f in thread["frames"])
    names = {f["symbol"] for t in doc["threads"] for f in t["frames"]}
    assert {"park", "recurse", "in_handler", "compare", "wait_in_libc", "main"} <= names
    parks = [f for t in doc["threads"] for f in t["frames"] if f["symbol"] == "park"]
    assert all(f["file"].endswith("parked.c") and f["module"].endswith("/nofp") for f in parks)


def test_max_depth(programs):
    with targets.running(programs["c-nofp"]) as proc:
        out = targets.unwind_pid(str(proc.pid), "--format", "json", "--max-depth", "3")
    doc = json.loads(out.stdout)
    assert max(len(t["frames"]) for t in doc["threads"]) == 3
    assert "depth-limit" in {t["stop"] for t in doc["threads"]}


def test_stopped_target_stays_stopped_and_untraced(programs):
    with targets.running(programs["c-nofp"]) as proc:
        theirs = eu_stack(proc.pid)  # before SIGSTOP: eu-stack waits for a stopped process to run again
        os.kill(proc.pid, 19)  # SIGSTOP
        while any(state != "T" for state, _ in targets.tasks(proc.pid).values()):
            time.sleep(0.01)
        ours = targets.unwind_pid(str(proc.pid), timeout=120)
        assert ours.returncode == 0, ours.stderr
        assert ours.stdout == theirs
        assert {(state, tracer) for state, tracer in targets.tasks(proc.pid).values()} == {("T", 0)}
        os.kill(proc.pid, 18)  # SIGCONT


def test_killed_mid_walk_leaves_the_target_running(programs):
    """SIGKILL to `unwind pid` while it holds the threads: the kernel detaches them and they run on."""
    with targets.running(programs["python"]) as proc:
        killed = 0
        for _attempt in range(10):
            killed += targets.kill_when_traced(proc.pid, ["--unwinder", "dwarf"])
            after = targets.wait_untraced(proc.pid)
            assert all(tracer == 0 and state != "t" for state, tracer in after.values()), after
            assert targets.echo(proc, f"alive{_attempt}") == f"alive{_attempt}"
            if killed >= 3:
                break
        assert killed >= 3


def one_line_error(out: subprocess.CompletedProcess, code: int = 1) -> str:
    assert out.returncode == code, (out.returncode, out.stdout, out.stderr)
    assert len(out.stderr.strip().splitlines()) == 1 and out.stderr.startswith("unwind pid: error:"), out.stderr
    assert "Traceback" not in out.stderr
    return out.stderr


def test_bad_pids_are_one_line_errors():
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert "no process with PID" in one_line_error(targets.unwind_pid(str(gone.pid)))
    assert "no process" in one_line_error(targets.unwind_pid("0"))
    assert "no process" in one_line_error(targets.unwind_pid("--", "-1"))


def test_zombie_is_a_one_line_error():
    child = subprocess.Popen(["true"])
    try:
        while targets.tasks(child.pid) and {s for s, _ in targets.tasks(child.pid).values()} != {"Z"}:
            time.sleep(0.01)
        assert "zombie" in one_line_error(targets.unwind_pid(str(child.pid)))
    finally:
        child.wait()


def test_permission_denied_is_a_one_line_error(programs):
    setpriv = need_tool("setpriv")
    with targets.running(programs["c-nofp"]) as proc:
        argv = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", *targets.unwind_pid_argv(str(proc.pid))]
        out = subprocess.run(argv, capture_output=True, text=True, check=False,
                             env={**os.environ, "UNWIND_CACHE_DIR": "/tmp"})
        assert "Permission denied" in one_line_error(out)
        assert all(tracer == 0 and state != "t" for state, tracer in targets.tasks(proc.pid).values())


def test_processes_exiting_mid_walk(programs, tmp_path):
    """Targets that create and end threads all the time, killed at varying moments: every run
    either prints every thread or ends with one line on stderr."""
    churn = tmp_path / "churn.py"
    churn.write_text("import os, threading\nprint('ready', os.getpid(), flush=True)\n"
                     "while True:\n    t = threading.Thread(target=sum, args=([1] * 1000,)); t.start(); t.join()\n")
    outcomes = set()
    for delay in (0.0, 0.05, 0.1, 0.2, 0.4, 0.8):
        with targets.running([targets.PYTHON, str(churn)]) as proc:
            ours = subprocess.Popen(targets.unwind_pid_argv(str(proc.pid)), stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            time.sleep(delay)
            proc.kill()
            stdout, stderr = ours.communicate(timeout=120)
        result = subprocess.CompletedProcess(ours.args, ours.returncode, stdout, stderr)
        if result.returncode == 0:
            assert stdout.startswith(f"PID {proc.pid} - process\nTID ")
            outcomes.add("ok")
        else:
            one_line_error(result)
            outcomes.add("error")
    assert outcomes
