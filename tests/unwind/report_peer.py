"""The peer for `unwind report`: real programs recorded with perf, `perf report --stdio` on them, and
perf's own stacks (`perf script`) read back so the report builder can be fed exactly what perf counted.

Programs (built and recorded by the tests, once per session):
- `tree`: C, a call tree of two leaves under two middles plus a recursion, frame pointers kept;
  recorded with `--call-graph dwarf` and with `-g` (frame pointers).
- `threads`: C, three threads named by pthread_setname_np, the main thread renamed half way
  (perf's pid column shows a thread's final comm); recorded with `-g`.
- `python`: python3.11 running a small script (recursion, json, re); `--call-graph dwarf`.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import NamedTuple

TREE_C = r"""
#include <stdlib.h>
volatile long sink;
__attribute__((noinline)) void leaf_a(long n) { for (long i = 0; i < n; i++) sink += i * 3; }
__attribute__((noinline)) void leaf_b(long n) { for (long i = 0; i < n; i++) sink ^= i * 7; }
__attribute__((noinline)) void mid_x(long n) { leaf_a(n); leaf_b(n / 2); }
__attribute__((noinline)) void mid_y(long n) { leaf_b(n); mid_x(n / 4); }
__attribute__((noinline)) long rec(int d, long n) { if (d == 0) { leaf_a(n); return 0; } return rec(d - 1, n) + 1; }
int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 3000000;
    for (int r = 0; r < 20; r++) { mid_x(n); mid_y(n); rec(3, n / 2); }
    return 0;
}
"""

THREADS_C = r"""
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <sys/prctl.h>
volatile long sink;
__attribute__((noinline)) void spin(long n) { for (long i = 0; i < n; i++) sink += i; }
__attribute__((noinline)) void work_a(long n) { spin(n); }
__attribute__((noinline)) void work_b(long n) { spin(n / 2); spin(n / 2); }
static void *run_a(void *arg) { pthread_setname_np(pthread_self(), "worker-a"); work_a((long)arg); return NULL; }
static void *run_b(void *arg) { pthread_setname_np(pthread_self(), "wrk-b"); work_b((long)arg); return NULL; }
int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 100000000;
    pthread_t a, b;
    pthread_create(&a, NULL, run_a, (void *)n);
    pthread_create(&b, NULL, run_b, (void *)(2 * n));
    work_a(n / 2);
    prctl(PR_SET_NAME, "renamed-main");
    work_b(n / 2);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    return 0;
}
"""

PY_SCRIPT = """
import json, re
def fib(n): return n if n < 2 else fib(n-1) + fib(n-2)
def text(n):
    s = json.dumps([{"a": i, "b": str(i)*3} for i in range(n)])
    return len(re.findall(r'"b"', s))
for _ in range(3):
    fib(20); text(20000)
"""

KERNEL_START = 0xFFFF_8000_0000_0000


def record_all(tmp: Path) -> dict[str, Path]:
    """name -> perf.data of each recording (programs built with gcc -O1 -g -fno-omit-frame-pointer)."""
    out: dict[str, Path] = {}
    for name, source, argv_tail in (("tree", TREE_C, ["10000000"]), ("threads", THREADS_C, [])):
        (tmp / f"{name}.c").write_text(source)
        subprocess.run(["gcc", "-O1", "-g", "-fno-omit-frame-pointer", str(tmp / f"{name}.c"), "-o",
                        str(tmp / name), "-lpthread"], check=True)
        modes = {"dwarf": ["--call-graph", "dwarf"], "fp": ["-g"]} if name == "tree" else {"fp": ["-g"]}
        for mode, flags in modes.items():
            out[f"{name}.{mode}"] = _record(tmp / f"{name}.{mode}.perf.data", flags, [str(tmp / name), *argv_tail])
    (tmp / "work.py").write_text(PY_SCRIPT)
    out["python.dwarf"] = _record(tmp / "python.dwarf.perf.data", ["--call-graph", "dwarf"],
                                  ["/usr/bin/python3.11", str(tmp / "work.py")])
    return out


def _record(path: Path, flags: list[str], argv: list[str]) -> Path:
    subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", "4000", *flags, "-o", str(path), "--", *argv],
                   check=True, stdout=subprocess.DEVNULL)
    return path


def perf_report(path: Path, *options: str) -> str:
    """`perf report --stdio` with these options, without its closing tip (a random line)."""
    text = subprocess.run(["perf", "report", "-i", str(path), "--stdio", *options], capture_output=True, text=True,
                          check=True).stdout
    # perf 6.1 mallocs fractal mode's "[...]" symbol without clearing its `inlined` flag, so the line may
    # read "[...] (inlined)" depending on the heap: we print "[...]".
    return "".join(line.replace("[...] (inlined)", "[...]") for line in text.splitlines(keepends=True)
                   if not line.startswith("# (Tip"))


class PeerFrame(NamedTuple):
    """A frame as `perf script` prints it: the address perf shows (map-relative for user frames)."""

    shown_addr: int
    symbol: str | None
    module: str | None
    inlined: bool
    kernel: bool
    map_offset: int | None
    start_address: int | None = None   # perf script does not say: functions are told apart by name


class PeerStack(NamedTuple):
    comm: str | None
    tid: int | None
    period: int
    frames: tuple[PeerFrame, ...]
    count: int = 1


_HEAD = re.compile(r"^(\S.*?)\s+(\d+)\s+(\d+)\s*$")
_FRAME = re.compile(r"^\s+([0-9a-f]+) (.*) \((.*)\)$")


def perf_dso_order(path: Path) -> list[str]:
    """The recording's mapped files in the order of its mmap events (`perf script --show-mmap-events`);
    the kernel's map is `[kernel.kallsyms]`."""
    text = subprocess.run(["perf", "script", "-i", str(path), "--show-mmap-events", "-F", "comm"],
                          capture_output=True, text=True, check=True).stdout
    order: list[str] = []
    for line in text.splitlines():
        if "PERF_RECORD_MMAP" in line:
            name = line.rsplit(" ", 1)[-1]
            order.append("[kernel.kallsyms]" if name.startswith("[kernel.kallsyms]") else name)
    return order


def perf_stacks(path: Path, inline: bool = False) -> list[PeerStack]:
    """perf's own stacks of a recording, from `perf script -F comm,tid,period,ip,sym,dso`."""
    argv = ["perf", "script", "-i", str(path), "-F", "comm,tid,period,ip,sym,dso"] + ([] if inline else ["--no-inline"])
    text = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    stacks: list[PeerStack] = []
    head: re.Match[str] | None = None
    frames: list[PeerFrame] = []
    for line in text.splitlines() + [""]:
        if not line.strip():
            if head is not None:
                stacks.append(PeerStack(head[1], int(head[2]), int(head[3]), tuple(frames)))
            head, frames = None, []
            continue
        if head is None:
            head = _HEAD.match(line)
            assert head is not None, line
            continue
        match = _FRAME.match(line)
        assert match is not None, line
        address, symbol, dso = int(match[1], 16), match[2], match[3]
        inlined = symbol.endswith(" (inlined)")
        if inlined:
            symbol = symbol[: -len(" (inlined)")]
        kernel = address >= KERNEL_START and dso != "[unknown]"   # perf marks an unmapped address [.]
        if dso == "inlined":   # `addr sym (inlined)`: an inline frame; its dso is the physical frame's (below)
            inlined, dso = True, ""
        frames.append(PeerFrame(address, None if symbol == "[unknown]" else symbol,
                                None if dso == "[unknown]" else dso, inlined, kernel, address))
    return [stack._replace(frames=_inline_dsos(stack.frames)) for stack in stacks]


def _inline_dsos(frames: tuple[PeerFrame, ...]) -> tuple[PeerFrame, ...]:
    """Inline frames take the module of the physical frame that follows them."""
    out = list(frames)
    module: str | None = None
    for i in range(len(out) - 1, -1, -1):
        if out[i].module == "":
            out[i] = out[i]._replace(module=module)
        else:
            module = out[i].module
    return tuple(out)


Row = tuple[float, float | None]
_ROW = re.compile(r"^ {3,5}(\d+\.\d\d)%(?: {2,6}(\d+\.\d\d)%)?  (.*?)\s*$")


def report_rows(text: str) -> dict[str, list[Row]]:
    """Entry rows of a report: the key columns (spaces squeezed) -> [(first, second percentage)], one item per
    row (two static functions of one name are two rows)."""
    rows: dict[str, list[Row]] = {}
    for line in text.splitlines():
        match = _ROW.match(line)
        if match:
            value = (float(match[1]), float(match[2]) if match[2] else None)
            rows.setdefault(re.sub(" +", " ", match[3]), []).append(value)
    return rows


def take_row(candidates: list[Row], want: Row, slack: float) -> Row | None:
    """Remove and return the row of `candidates` nearest to `want` if both its percentages are within `slack`."""
    def distance(row: Row) -> float:
        return max(abs(row[0] - want[0]), abs((row[1] or 0.0) - (want[1] or 0.0)))

    if not candidates:
        return None
    best = min(candidates, key=distance)
    if distance(best) > slack or (best[1] is None) != (want[1] is None):
        return None
    candidates.remove(best)
    return best


def user_functions(frames: tuple) -> list[tuple[str, str | None]]:
    """(dso name, function) of each frame that is no inline frame, as perf names the dso."""
    return [((f.module or "[unknown]").rsplit("/", 1)[-1], f.symbol) for f in frames if not f.inlined]


BOGUS = ("[unknown]", None)  # perf's libunwind ends some stacks in a frame for return address 0 (prints -1)


def disagreeing_period(ours: list, theirs: list[PeerStack]) -> tuple[int, int]:
    """(period of the samples whose frames differ between our stacks and perf's, total period); a stack perf
    ends in its bogus [unknown] frame agrees when the rest does."""
    assert len(ours) == len(theirs)
    differ = total = 0
    for a, b in zip(ours, theirs):
        total += b.period
        mine, perfs = user_functions(a.frames), user_functions(b.frames)
        if perfs and perfs[-1] == BOGUS and b.frames[-1].shown_addr == (1 << 64) - 1:
            perfs = perfs[:-1]
        if mine != perfs:
            differ += b.period
    return differ, total


ENTRY = re.compile(r"^ {3,5}\d+\.\d\d% ")  # "  %7.2f%" starts an entry line; graph lines start with 12 columns


def entry_blocks(text: str) -> list[str]:
    """The report cut into the header and one block per entry (its line and its call graph)."""
    blocks: list[str] = []
    for line in text.splitlines(keepends=True):
        if ENTRY.match(line) or not blocks:
            blocks.append(line)
        else:
            blocks[-1] += line
    return blocks


def ties_sorted(text: str) -> list[str]:
    """Entry blocks with every run of entries of equal first percentage sorted (perf orders such entries of
    different threads by its rb-tree's shape, not by a total order)."""
    footer = "\n\n#\n#\n"
    body, tail = (text[:-len(footer)], [footer]) if text.endswith(footer) else (text, [])
    blocks = entry_blocks(body)
    out: list[str] = []
    run: list[str] = []
    for block in blocks:
        if run and block[:10] != run[0][:10]:  # the first column: children, or overhead
            out.extend(sorted(run))
            run = []
        run.append(block)
    out.extend(sorted(run))
    return out + tail
