"""perf's own DWARF unwinder (libunwind) walks the REGS_USER + STACK_USER we record and lands on the truth."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from conftest import ROOT, need_tool
from unwind.sim.record import record
from unwind.sim.shadow import EntryKind

BIN = ROOT / "corpus" / "bin"
MMAP2 = re.compile(r"PERF_RECORD_MMAP2 \S+ \[(0x[0-9a-f]+)\((0x[0-9a-f]+)\) @ (0x[0-9a-f]+|0) .*?\]: \S+ (\S+)")


def _perf_chains(data) -> tuple[list[list[int]], list[tuple[int, int, str]], dict[str, int]]:
    out = subprocess.run([need_tool("perf"), "script", "-i", str(data), "-F", "ip", "--no-inline",
                          "--show-mmap-events"], capture_output=True, text=True, check=True).stdout
    maps, base = [], {}
    for m in MMAP2.finditer(out):
        start = int(m.group(1), 16)
        maps.append((start, start + int(m.group(2), 16), m.group(4)))
        if int(m.group(3), 16) == 0:
            base.setdefault(m.group(4), start)
    body = re.sub(r"PERF_RECORD_MMAP2.*\n", "", out)
    chains = [[int(line.split()[0], 16) for line in block.strip().splitlines()]
              for block in body.split("\n\n") if block.strip()]
    return chains, maps, base


@pytest.mark.parametrize("name,period,args,least", [
    ("exceptions-glibc-dynamic-O2-nofp", 20000, ["2"], 0.95),
    ("nonlocal-glibc-dynamic-O0-fp", 700, [], 0.95),
])
def test_perf_script_unwinds_our_samples_to_the_truth(tmp_path, name, period, args, least):
    data = tmp_path / "p.perf.data"
    summary = record(str(BIN / name), data, args, period=period, seed=2)
    truth = [json.loads(line)["frames"] for line in open(f"{data}.truth.jsonl")]
    chains, maps, base = _perf_chains(data)
    assert len(chains) == len(truth)

    def relative(address: int) -> int:
        """perf prints a shared object's addresses relative to where its offset 0 is mapped."""
        for start, end, path in maps:
            if start <= address < end:
                return address - base[path]
        return address

    exact = signal_exact = 0
    for frames, kinds, chain in zip(truth, summary.truth_kinds, chains):
        # perf shows a return address as ra - 1, but the pc a signal interrupted as it is
        expected = [relative(int(frames[0], 16))]
        expected += [relative(int(a, 16) - (k != EntryKind.INTERRUPTED)) for a, k in zip(frames[1:], kinds)]
        exact += expected == chain
        signal_exact += expected == chain and EntryKind.INTERRUPTED in kinds
    # measured (perf 6.1, libunwind): 82/82 and 188/194; the rest are libunwind stopping early in ld.so and
    # glibc's __longjmp CFI naming the setjmp caller while its frame is not on the stack yet.  The peer is not
    # held to perfection: after an unrelated apt-get changed ld.so.cache (so the emulated loader's path and
    # the samples moved) it got 81/82, one sample stopped early in ld.so.  Our own exactness against the same
    # truth is asserted by the unwinder tests.
    assert exact >= least * len(truth)
    if "nonlocal" in name:
        assert signal_exact > 10  # through the rt_sigframe we built, as perf reads a kernel's
