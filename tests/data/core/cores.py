"""Test helpers: build the parked-thread programs, dump their cores with gcore, ask gdb for the backtraces.

Imported by the core/fp/auto tests through `load_helpers()`; every build goes to a pytest tmp dir.
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
NAMES = ("fp", "nofp", "nocfi")

# gdb's physical frames, thread by thread: pc of every frame that is neither inline nor a
# DW_TAG_call_site tail-call reconstruction, outermost last.
GDB_SCRIPT = r"""
import gdb
gdb.execute("set backtrace past-main on")
gdb.execute("set backtrace limit 300")
sel = gdb.selected_thread()
print("SELECTED", sel.ptid[1] if sel else 0)
for t in sorted(gdb.selected_inferior().threads(), key=lambda t: t.ptid[1]):
    t.switch()
    f = gdb.newest_frame()
    out = []
    while f is not None:
        if f.type() not in (gdb.INLINE_FRAME, gdb.TAILCALL_FRAME):  # virtual frames, no pc of their own
            kind = "sig" if f.type() == gdb.SIGTRAMP_FRAME else "n"
            out.append("%#x:%s:%s" % (f.pc(), kind, f.name() or "?"))
        f = f.older()
    print("THREAD", t.ptid[1], " ".join(out))
"""


@functools.lru_cache(maxsize=None)
def build(outdir: str) -> Path:
    """Build the three programs and their cores into `outdir` (once per directory)."""
    out = Path(outdir)
    subprocess.run(["sh", str(HERE / "build.sh"), str(out), "--cores"], check=True, capture_output=True)
    return out


@functools.lru_cache(maxsize=None)
def gdb_frames(exe: str, core: str, *extra: str) -> dict[int, list[tuple[int, str, str]]]:
    """{tid: [(pc, 'n'|'sig', function name), ...]} for every thread, from gdb."""
    script = Path(core).with_suffix(".gdb.py")
    script.write_text(GDB_SCRIPT)
    argv = ["gdb", "-nx", "-batch", *extra, "-x", str(script), exe]
    if core:
        argv.append(core)
    text = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    threads: dict[int, list[tuple[int, str, str]]] = {}
    for line in text.splitlines():
        if line.startswith("THREAD "):
            _, tid, *frames = line.split()
            threads[int(tid)] = [(int(pc, 16), kind, name) for pc, kind, name in (f.split(":", 2) for f in frames)]
    return threads


def stop_at(exe: Path, location: str, outdir: Path, tag: str) -> tuple[Path, dict, int]:
    """Run `exe` under gdb to breakpoint `location`, gcore it there; (core, gdb frames, stopped tid)."""
    core = outdir / f"{exe.name}.{tag}.core"
    script = outdir / f"{exe.name}.{tag}.gdb.py"
    script.write_text(GDB_SCRIPT)
    # The program signals its own threads (SIGUSR1/2); gdb must pass those, not stop on them,
    # or under load the core is taken at a signal stop instead of the breakpoint.
    argv = ["gdb", "-nx", "-batch", "-ex", "set pagination off", "-ex", "handle SIGUSR1 SIGUSR2 nostop noprint pass",
            "-ex", f"break *{location}",
            "-ex", "run 40 > /dev/null", "-ex", f"gcore {core}", "-x", str(script), "-ex", "kill", str(exe)]
    text = subprocess.run(argv, capture_output=True, text=True, timeout=60).stdout
    threads, selected = {}, 0
    for line in text.splitlines():
        if line.startswith("SELECTED "):
            selected = int(line.split()[1])
        elif line.startswith("THREAD "):
            _, tid, *frames = line.split()
            threads[int(tid)] = [(int(pc, 16), kind, name) for pc, kind, name in (f.split(":", 2) for f in frames)]
    return core, threads, selected
