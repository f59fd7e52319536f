"""Test helper: parked.cc built by every linker layout, each run until its threads park, its
/proc/PID/maps read and a gcore taken (gdb's), then killed.

`build(outdir, name)` -> Dumped(exe, core, maps text), cached per directory and build.
"""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path
from typing import NamedTuple

HERE = Path(__file__).resolve().parent

# name -> compiler command line (the source and -o are added); every layout the Debian toolchains make
BUILDS: dict[str, list[str]] = {
    "gcc-bfd": ["g++", "-O2", "-g", "-pthread"],                                   # -z separate-code (default)
    "gcc-bfd-noseparate": ["g++", "-O2", "-g", "-pthread", "-Wl,-z,noseparate-code"],
    "gcc-bfd-nopie": ["g++", "-O2", "-g", "-pthread", "-no-pie"],
    "gcc-gold": ["g++", "-O2", "-g", "-pthread", "-fuse-ld=gold"],
    "gcc-mold": ["g++", "-O2", "-g", "-pthread", "-fuse-ld=mold"],
    "clang-lld": ["clang++-14", "-O2", "-g", "-pthread", "-fuse-ld=lld"],
    "clang-lld-nopie": ["clang++-14", "-O2", "-g", "-pthread", "-fuse-ld=lld", "-no-pie"],
    "clang-bfd": ["clang++-14", "-O2", "-g", "-pthread", "-fuse-ld=bfd"],
}


class Dumped(NamedTuple):
    exe: Path
    core: Path
    maps: str       # /proc/PID/maps while parked


@functools.lru_cache(maxsize=None)
def build(outdir: str, name: str) -> Dumped:
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    exe = out / name
    subprocess.run([*BUILDS[name], str(HERE / "parked.cc"), "-o", str(exe)], check=True, capture_output=True)
    proc = subprocess.Popen([str(exe)], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.startswith("ready"), line
        maps = Path(f"/proc/{proc.pid}/maps").read_text()
        prefix = out / f"{name}.core"
        subprocess.run(["gcore", "-o", str(prefix), str(proc.pid)], check=True, capture_output=True, timeout=120)
        core = out / f"{name}.core.{proc.pid}"
    finally:
        proc.kill()
        proc.wait()
    os.replace(core, out / f"{name}.core")
    return Dumped(exe, out / f"{name}.core", maps)
