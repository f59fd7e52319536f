#!/usr/bin/env python3
"""Agreement with `perf script --no-inline` on a node recording (JIT code named from /tmp/perf-PID.map).

Records a node script (default tests/data/jit/work.js) under `perf record -e cpu-clock -F FREQ --call-graph
dwarf` with node's --perf-basic-prof --interpreted-frames-native-stack and any --node-flag (or takes
PERF.DATA whose map file is still in /tmp), unwinds it with each unwinder and counts, per sample, identical
user frames, perf stopping early while ours goes on through mapped code (both agreement, as issue 10
counts it), differences explained in tests/data/perf/record.py (perf wrong) and the rest. A dwarf sample
that stops after a JIT frame as perf does, where perf's JIT frame is the caller's caller, is explained
when auto's walk of the same sample (a longer one through the same frames) is. Explained and other
differences are listed by frame 0's function.

With --code (node also run with --perf-prof, or PERF.DATA with its jit-PID.dump beside it), every explained
sample where ours has a frame perf skips is checked against the machine code: the instruction that ends at
that frame's return address (from the jitdump for JIT code, from the ELF file otherwise) must be a call,
and a direct call must go to frame 0's function (or to one that tail-jumps on to it). Counted by kind; and
every return address of every auto walk is checked to follow a call instruction.

Usage: .venv/bin/python bench/jit_agreement.py [PERF.DATA] [--script JS] [--frequency 500]
                                                [--node-flag=--no-opt ...] [--keep] [--code]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "data" / "perf"))

from record import (  # noqa: E402
    explained_difference,
    goes_on_past_perf,
    perf_script_text,
    skips_callers_of_frame,
    skips_callers_of_frame0,
    user_frames,
)

from formats.perfscript import parse_perf_script  # noqa: E402

def call_before(code: bytes, start: int, ra: int) -> tuple[str, int | None] | None:
    """('call', target or None if indirect) for the call instruction ending at `ra` in `code` (at `start`),
    None when no call ends there."""
    from capstone import CS_ARCH_X86, CS_MODE_64, Cs

    disasm = Cs(CS_ARCH_X86, CS_MODE_64)
    for length in range(2, 8):
        if ra - length < start:
            break
        insns = list(disasm.disasm(code[ra - length - start:ra - start], ra - length))
        if len(insns) == 1 and insns[0].size == length and insns[0].mnemonic == "call":
            target = insns[0].op_str
            return "call", int(target, 16) if re.fullmatch(r"0x[0-9a-f]+", target) else None
    return None


class CodeCheck:
    """The extra frames of explained samples against the machine code (jitdump, ELF files)."""

    def __init__(self, dump: Path) -> None:
        from formats.jitdump import parse_jitdump

        from formats.perfmap import PerfMap, PerfMapEntry

        self.loads = parse_jitdump(dump.read_bytes(), str(dump)).code
        # code reused at one address (GC): the latest-starting, then latest load, as the unwinder takes it
        self.jit = PerfMap([PerfMapEntry(c.address, c.size, c.name, i + 1) for i, c in enumerate(self.loads)])
        self.elves: dict = {}
        self.counts: Counter = Counter()
        self.returns: Counter = Counter()  # audit(): our return addresses by what precedes them
        self.bad: Counter = Counter()  # (callee, frame) of those not after a call
        self.elsewhere: Counter = Counter()  # (called address, frame 0's function) of other direct calls

    def _elf(self, path: str):
        from formats.elf import ElfFile
        from unwind.prologue import FunctionIndex

        if path not in self.elves:
            elf = ElfFile(path)
            self.elves[path] = elf, FunctionIndex(elf)
        return self.elves[path]

    def _code_before(self, frame: dict) -> tuple[bytes, int] | None:
        """(bytes, their absolute start) of up to 8 bytes before a return address."""
        ra = int(frame["addr"], 16)
        if frame["module"].startswith("/tmp/perf-"):
            entry = self.jit.find(ra - 1)
            if entry is None:
                return None
            start, body = entry.start, self.loads[entry.line - 1].code
            begin = max(start, ra - 8)
            return body[begin - start:ra - start], begin
        if frame["offset"] is None:
            return None
        elf, _ = self._elf(frame["module"])
        vaddr = int(frame["offset"], 16)
        code = elf.read_vaddr(vaddr - 8, 8)
        return (code, ra - 8) if code else None

    def _start(self, frame: dict) -> int | None:
        """Absolute start of frame 0's function (ELF symbol)."""
        if frame["offset"] is None or frame["module"].startswith("/tmp/perf-"):
            return None
        _, index = self._elf(frame["module"])
        func = index.find(int(frame["offset"], 16))
        return None if func is None else int(frame["addr"], 16) - (int(frame["offset"], 16) - func.start)

    def audit(self, frames: list[dict]) -> None:
        """Is every return address of one of our walks (user frames) the end of a call instruction?"""
        for callee, frame in zip(frames, frames[1:]):
            if frame["module"] is None:
                self.returns["unmapped"] += 1
                self.bad[(callee["symbol"], None)] += 1
                continue
            found = self._code_before(frame)
            if found is None:
                self.returns["no code at hand"] += 1
            elif call_before(found[0], found[1], int(frame["addr"], 16)) is None:
                self.returns["NOT after a call"] += 1
                self.bad[(callee["symbol"], frame["symbol"])] += 1
            else:
                self.returns["after a call"] += 1

    def check(self, frames: list[dict]) -> None:
        if len(frames) < 2:
            return
        found = self._code_before(frames[1])
        if found is None:
            self.counts["no code at hand"] += 1
            return
        call = call_before(found[0], found[1], int(frames[1]["addr"], 16))
        if call is None:
            self.counts["NO CALL before the return address"] += 1
        elif call[1] is None:
            self.counts["indirect call"] += 1
        elif call[1] == self._start(frames[0]):
            self.counts["direct call to frame 0's function"] += 1
        elif self._jumps_to(call[1], frames[0]):
            self.counts["direct call to a function that tail-jumps on to frame 0's"] += 1
        else:
            self.counts["direct call elsewhere"] += 1
            self.elsewhere[(self._name(call[1], frames[0]), frames[0]["symbol"])] += 1

    def _name(self, target: int, frame0: dict) -> str:
        if frame0["offset"] is None or frame0["module"].startswith("/tmp/perf-"):
            return hex(target)
        _, index = self._elf(frame0["module"])
        func = index.find(target - (int(frame0["addr"], 16) - int(frame0["offset"], 16)))
        return func.name if func is not None else hex(target)

    def _jumps_to(self, target: int, frame0: dict, depth: int = 3) -> bool:
        """Does `target` (absolute, in frame 0's module) reach frame 0's function through at most `depth`
        functions' direct jumps out of them (tail calls, also conditional: V8's Call_*_Baseline_Compact
        -> Call_* -> CallFunction_*)?"""
        from capstone import CS_ARCH_X86, CS_MODE_64, Cs

        start = self._start(frame0)
        if start is None:
            return False
        bias = int(frame0["addr"], 16) - int(frame0["offset"], 16)
        elf, index = self._elf(frame0["module"])
        seen = {target - bias}
        todo = [target - bias]
        for _ in range(depth):
            found = []
            for vaddr in todo:
                func = index.find(vaddr)
                if func is None or func.start != vaddr or not func.size:
                    continue
                code = elf.read_vaddr(func.start, func.size) or b""
                for i in Cs(CS_ARCH_X86, CS_MODE_64).disasm(code, func.start):
                    if i.mnemonic.startswith("j") and re.fullmatch(r"0x[0-9a-f]+", i.op_str):
                        jumped = int(i.op_str, 16)
                        if jumped == start - bias:
                            return True
                        if jumped not in seen and not func.start <= jumped < func.start + func.size:
                            seen.add(jumped)
                            found.append(jumped)
            todo = found
        return False


KINDS = ("identical", "perf stops, ours goes on", "explained (perf wrong)", "other")


def classify(mine: list, perfs: list, auto: list | None) -> int:
    """Index into KINDS; `auto` (auto's frames of the same sample) explains a shorter dwarf walk."""
    if mine == perfs:
        return 0
    if goes_on_past_perf(mine, perfs):
        return 1
    if explained_difference(mine, perfs):
        return 2
    if auto is not None and auto[:len(mine)] == mine and explained_difference(auto, perfs):
        return 2
    return 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", nargs="?", help="an existing recording (its /tmp/perf-PID.map still there)")
    parser.add_argument("--script", default=str(ROOT / "tests" / "data" / "jit" / "work.js"))
    parser.add_argument("--frequency", type=int, default=500)
    parser.add_argument("--node-flag", action="append", default=[], help="extra node flag (repeatable)")
    parser.add_argument("--keep", action="store_true", help="keep the map file of a new recording")
    parser.add_argument("--code", action="store_true", help="check explained samples against the jitdump's code")
    args = parser.parse_args()
    if args.code and not args.data:
        args.node_flag.append("--perf-prof")
    if args.data:
        data = Path(args.data)
    else:
        data = Path(tempfile.mkdtemp()) / "node.perf.data"
        run = subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", str(args.frequency), "--call-graph",
                              "dwarf", "-o", str(data), "--", "node", "--perf-basic-prof",
                              "--interpreted-frames-native-stack", *args.node_flag, str(Path(args.script).resolve())],
                             stdout=subprocess.DEVNULL, cwd=data.parent)
        if run.returncode:
            shutil.rmtree(data.parent)
            sys.exit(f"perf record / node failed (exit {run.returncode})")
    theirs_text = perf_script_text(data)
    theirs = list(parse_perf_script(theirs_text))
    match = re.search(r"^\S+\s+(\d+)/", theirs_text, re.MULTILINE)
    pid = match.group(1) if match else "?"
    with open("/proc/loadavg") as fh:
        load = fh.read().split()[:3]
    print(f"{data}: {len(theirs)} samples, /tmp/perf-{pid}.map, load average {' '.join(load)}")
    print(f"| unwinder | {' | '.join(KINDS)} | agreement |")
    print("|---|---|---|---|---|---|")
    auto_frames: list[list] = []
    details = []
    checker = None
    if args.code:
        (dump,) = data.parent.glob("jit-*.dump")
        checker = CodeCheck(dump)
        json_text = subprocess.run([sys.executable, "-m", "unwind", "perf", str(data), "--unwinder", "auto", "--format",
                                    "json"], capture_output=True, text=True, check=True, cwd=ROOT).stdout
        auto_json = [[f for f in json.loads(line)["frames"] if f["module"] and not f["module"].startswith("[kernel")]
                     for line in json_text.splitlines()]
    for unwinder in ("auto", "dwarf"):
        text = subprocess.run([sys.executable, "-m", "unwind", "perf", str(data), "--unwinder", unwinder],
                              capture_output=True, text=True, check=True, cwd=ROOT).stdout
        counts = [0, 0, 0, 0]
        leaves: list[Counter] = [Counter(), Counter()]
        for i, (a, b) in enumerate(zip(parse_perf_script(text), theirs)):
            mine, perfs = user_frames(a), user_frames(b)
            if unwinder == "auto":
                auto_frames.append(mine)
            kind = classify(mine, perfs, auto_frames[i] if unwinder == "dwarf" else None)
            counts[kind] += 1
            if kind >= 2:
                leaves[kind - 2][perfs[0][1] if perfs else None] += 1
            if unwinder == "auto" and checker is not None:
                checker.audit(auto_json[i])
            if kind == 2 and unwinder == "auto" and checker is not None:
                if skips_callers_of_frame0(mine, perfs):
                    checker.check(auto_json[i])
                elif (at := skips_callers_of_frame(mine, perfs)) is not None:
                    checker.check(auto_json[i][at - 1:])
        share = (counts[0] + counts[1]) / max(len(theirs), 1)
        print(f"| {unwinder} | {' | '.join(map(str, counts))} | {share:.1%} |")
        details.append((unwinder, leaves))
    for unwinder, (explained, other) in details:
        for label, leaves in (("explained", explained), ("other", other)):
            if leaves:
                print(f"{unwinder} {label} by frame 0: " + ", ".join(f"{name} {n}" for name, n in leaves.most_common()))
    if checker is not None:
        print("explained samples' extra frame against the code: " +
              ", ".join(f"{kind} {n}" for kind, n in checker.counts.most_common()))
        print("return addresses of our auto walks (user frames; JIT code from the jitdump): " +
              ", ".join(f"{kind} {n}" for kind, n in checker.returns.most_common()))
        if checker.bad:
            print("  not after a call (callee, frame): " +
                  ", ".join(f"{a} <- {b} {n}" for (a, b), n in checker.bad.most_common()))
        if checker.elsewhere:
            print("  other direct calls (target, frame 0): " +
                  ", ".join(f"{target} -> {name} {n}" for (target, name), n in checker.elsewhere.most_common()))
    if not args.data and not args.keep:
        Path(f"/tmp/perf-{pid}.map").unlink(missing_ok=True)
        shutil.rmtree(data.parent)


if __name__ == "__main__":
    main()
