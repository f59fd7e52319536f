"""Frames per second of the `dwarf` unwinder on repeated snapshots of a live process (captured with gdb).

usage: .venv/bin/python bench/unwind_dwarf.py [--repeat N] [--signal]

Builds a small C program (-O2 -fomit-frame-pointer, nested calls through qsort's callback), stops it
at a breakpoint under gdb, captures registers + stack + mappings, then unwinds the snapshot: once cold
(compiling or loading the CFI tables) and N times warm (compiled tables + the per-address rule cache).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from unwind.model import Mapping, ModuleMap, Reg, Registers, Sample  # noqa: E402
from unwind.unwinders import get_unwinder  # noqa: E402

PROGRAM = r"""
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
volatile int sink;
__attribute__((noinline)) void leaf(int x) { sink = x; }
static int cmp(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    if (x == 3 || y == 3) leaf(x + y);
    return (x > y) - (x < y);
}
static void handler(int sig) { leaf(sig); }
__attribute__((noinline)) int level3(int *arr, int n, int mode) {
    if (mode) raise(SIGUSR1); else qsort(arr, n, sizeof *arr, cmp);
    return arr[0] + sink;
}
__attribute__((noinline)) int level2(int *arr, int n, int mode) { return level3(arr, n, mode) * 3 + sink; }
__attribute__((noinline)) int level1(int *arr, int n, int mode) { return level2(arr, n, mode) + 1 + sink; }
int main(int argc, char **argv) {
    int arr[] = {5, 1, 4, 3, 2, 9, 7};
    signal(SIGUSR1, handler);
    printf("%d\n", level1(arr, 7, argc > 1));
    return 0;
}
"""

GDB = r"""
import gdb, json
gdb.execute("set pagination off")
gdb.execute("handle SIGUSR1 nostop noprint pass")
gdb.execute("break leaf")
gdb.execute("run" + ARGS, to_string=True)
regs = {n: int(gdb.parse_and_eval("$" + n).cast(gdb.lookup_type("unsigned long")))
        for n in ["rax","rdx","rcx","rbx","rsi","rdi","rbp","rsp","r8","r9","r10","r11","r12","r13","r14","r15","rip"]}
maps = []
for line in gdb.execute("info proc mappings", to_string=True).splitlines():
    p = line.split()
    if len(p) >= 5 and p[0].startswith("0x"):
        maps.append([int(p[0], 16), int(p[1], 16), int(p[3], 16), p[5] if len(p) >= 6 else None])
top = [m for m in maps if m[3] == "[stack]"][0][1]
open(OUT + ".stack", "wb").write(bytes(gdb.selected_inferior().read_memory(regs["rsp"], top - regs["rsp"])))
json.dump({"regs": regs, "maps": maps}, open(OUT + ".json", "w"))
gdb.execute("kill")
"""


def capture(work: Path, signal: bool) -> Sample:
    (work / "p.c").write_text(PROGRAM)
    subprocess.run(["gcc", "-O2", "-fomit-frame-pointer", "-o", str(work / "p"), str(work / "p.c")], check=True)
    (work / "cap.py").write_text(GDB)
    out = str(work / "cap")
    subprocess.run(["gdb", "-q", "-batch", "-nx", "-ex", f"python OUT={out!r}; ARGS={' x' if signal else ''!r}",
                    "-x", str(work / "cap.py"), str(work / "p")], check=True, capture_output=True)
    data = json.loads(Path(out + ".json").read_text())
    names = {r.name.lower(): r for r in Reg}
    return Sample(Registers({names[k]: v for k, v in data["regs"].items()}), Path(out + ".stack").read_bytes(),
                  data["regs"]["rsp"], ModuleMap(Mapping(s, e, o, p) for s, e, o, p in data["maps"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20000)
    parser.add_argument("--signal", action="store_true", help="break inside a signal handler instead of qsort")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:  # the binary must outlive the unwinding
        run(capture(Path(tmp), args.signal), args.repeat)


def run(sample: Sample, repeat: int) -> None:
    unwinder = get_unwinder("dwarf")
    start = time.perf_counter()
    trace = unwinder.unwind(sample)
    cold = time.perf_counter() - start
    start, cpu_start = time.perf_counter(), time.process_time()
    frames = 0
    for _ in range(repeat):
        frames += len(unwinder.unwind(sample).frames)
    warm, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    print(f"frames per trace: {len(trace.frames)} (stop: {trace.stop})")
    print(f"cold first unwind: {cold * 1000:.1f} ms (modules: {unwinder.cache.lazy} lazy through .eh_frame_hdr, "
          f"{unwinder.cache.compiles} compiled, {unwinder.cache.loads} loaded from the cache dir)")
    print(f"warm: {repeat} unwinds, {frames} frames in {warm:.3f} s wall = {frames / warm:,.0f} frames/s, "
          f"{repeat / warm:,.0f} traces/s")
    print(f"warm, CPU time of this process: {cpu:.3f} s = {frames / cpu:,.0f} frames/s "
          f"(rule lookups {unwinder.lookups}, the rest from the per-address cache)")
    # Without the per-address rule cache: every frame does the module lookup and two binary searches
    # in the whole-module compiled tables (as a stream of samples at ever new addresses would).
    from unwind.cfi_tables import CfiCache
    from unwind.unwinders.dwarf import DwarfUnwinder

    fresh = DwarfUnwinder(cache=CfiCache(persist=False, lazy_limit=0), resolver=unwinder.resolver)
    fresh.unwind(sample)
    runs = max(repeat // 4, 1)
    start = time.process_time()
    frames = 0
    for _ in range(runs):
        fresh.clear_rule_cache()
        frames += len(fresh.unwind(sample).frames)
    cpu = time.process_time() - start
    print(f"no per-address cache (compiled tables, lookup every frame): {runs} unwinds, "
          f"{frames / cpu:,.0f} frames/s CPU")


if __name__ == "__main__":
    main()
