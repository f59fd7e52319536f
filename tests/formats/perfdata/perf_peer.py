"""Run the real `perf` on a small C program and parse what `perf report -D` / `perf script` print."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

LOOP_C = r"""
#include <stdlib.h>
static volatile unsigned long sink;
__attribute__((noinline)) void leaf(int n) { for (int i = 0; i < n; i++) sink += (unsigned long)i * i; }
__attribute__((noinline)) void mid(int n) { leaf(n); sink++; }
__attribute__((noinline)) void top(int n) { mid(n); sink++; }
int main(int argc, char **argv) {
    long iters = argc > 1 ? atol(argv[1]) : 300;
    for (long k = 0; k < iters; k++) top(200000);
    return 0;
}
"""


def build_loop(directory: Path) -> Path:
    """gcc -O1 -g -fno-omit-frame-pointer loop.c (three nested noinline functions in a hot loop)."""
    src = directory / "loop.c"
    src.write_text(LOOP_C)
    exe = directory / "loop"
    subprocess.run(["gcc", "-O1", "-g", "-fno-omit-frame-pointer", "-o", str(exe), str(src)], check=True)
    return exe


def record(out: Path, argv: list[str], *perf_args: str, pipe: bool = False) -> Path:
    """perf record -e cpu-clock -F 999 [perf_args] -o out (or -o - > out) -- argv."""
    base = ["perf", "record", "-q", "-F", "999", *perf_args]
    if not any(a.startswith("-e") for a in perf_args):
        base[3:3] = ["-e", "cpu-clock"]
    if pipe:
        with open(out, "wb") as fh:
            subprocess.run([*base, "-o", "-", "--", *argv], stdout=fh, stderr=subprocess.DEVNULL, check=True)
    else:
        subprocess.run([*base, "-o", str(out), "--", *argv], capture_output=True, check=True)
    return out


def perf_out(*argv: str) -> str:
    return subprocess.run(["perf", *argv], capture_output=True, text=True, check=True).stdout


@dataclass
class DumpEvent:
    """One parsed `perf report -D` event line and the detail lines under it."""

    offset: int
    time: int | None
    kind: str
    text: str
    callchain: list[int] = field(default_factory=list)
    uregs: dict[str, int] = field(default_factory=dict)
    ustack: int | None = None
    branches: list[tuple[int, int]] = field(default_factory=list)
    read: list[tuple[int, int]] = field(default_factory=list)
    details: list[str] = field(default_factory=list)


_EVENT = re.compile(r"^(?:(\d+) )?(?:(\d+) )?(0x[0-9a-f]+) \[0x[0-9a-f]+\]: PERF_RECORD_(\w+)(.*)$")
_ENTRY = re.compile(r"^\.{5}\s+\d+: ([0-9a-f]+)(?: -> ([0-9a-f]+))?")
_REG = re.compile(r"^\.{4} (\w+)\s+0x([0-9a-f]+)$")
_READ = re.compile(r"^\.{5} id ([0-9a-f]+), value ([0-9a-f]+)")


def parse_dump(text: str) -> list[DumpEvent]:
    """Events of `perf report -D` in print order, with callchain, user regs, ustack size and branches."""
    events: list[DumpEvent] = []
    section = None
    for line in text.splitlines():
        m = _EVENT.match(line)
        if m:
            cpu_or_time, time = m.group(1), m.group(2)      # "CPU TIME OFFSET" when the cpu is sampled
            time = int(time) if time else int(cpu_or_time) if cpu_or_time else None
            events.append(DumpEvent(int(m.group(3), 16), time, m.group(4), m.group(5)))
            section = None
            continue
        if not events or not line.strip():
            section = None if not line.strip() else section
            continue
        ev = events[-1]
        if line.startswith("... FP chain"):
            section = "chain"
        elif line.startswith("... branch"):
            section = "branch"
        elif line.startswith("... user regs"):
            section = "uregs"
        elif line.startswith("... intr regs"):
            section = "iregs"
            ev.details.append(line.strip())
        elif line.startswith("... ustack: size"):
            ev.ustack = int(line.split("size")[1].split(",")[0])
        elif section == "chain" and _ENTRY.match(line):
            ev.callchain.append(int(_ENTRY.match(line).group(1), 16))
        elif section == "branch" and _ENTRY.match(line):
            e = _ENTRY.match(line)
            ev.branches.append((int(e.group(1), 16), int(e.group(2) or "0", 16)))
        elif section == "uregs" and _REG.match(line):
            r = _REG.match(line)
            ev.uregs[r.group(1)] = int(r.group(2), 16)
        elif _READ.match(line):
            r = _READ.match(line)
            ev.read.append((int(r.group(1), 16), int(r.group(2), 16)))
        else:
            ev.details.append(line.strip())
    return events


def dump(path: Path) -> list[DumpEvent]:
    return parse_dump(perf_out("report", "-D", "-i", str(path)))


_SAMPLE = re.compile(r"\(IP, 0x(\d+)\): (-?\d+)/(-?\d+): 0x([0-9a-f]+) period: (\d+) addr: (0x[0-9a-f]+|\d+)")


def sample_fields(ev: DumpEvent) -> tuple[int, int, int, int, int]:
    """(pid, tid, ip, period, addr) of a PERF_RECORD_SAMPLE dump line."""
    m = _SAMPLE.search(ev.text)
    return int(m.group(2)), int(m.group(3)), int(m.group(4), 16), int(m.group(5)), int(m.group(6), 0)


_MMAP2 = re.compile(r" (-?\d+)/(-?\d+): \[0x([0-9a-f]+)\(0x([0-9a-f]+)\) @ (0x[0-9a-f]+|0) "
                    r"([0-9a-f]+):([0-9a-f]+) (\d+) (\d+)\]: ([-rwxps]{4}) (.*)$")


def mmap2_fields(ev: DumpEvent) -> tuple:
    """(pid, tid, start, len, pgoff, maj, min, ino, ino_generation, prot string, filename)."""
    m = _MMAP2.match(ev.text)
    g = m.groups()
    return (int(g[0]), int(g[1]), int(g[2], 16), int(g[3], 16), int(g[4], 0), int(g[5], 16), int(g[6], 16),
            int(g[7]), int(g[8]), g[9], g[10])


def ns_time(text: str) -> int:
    """A `perf script --ns` timestamp (seconds.nanoseconds) as integer nanoseconds."""
    sec, frac = text.rstrip(":").split(".")
    return int(sec) * 10**9 + int(frac)
