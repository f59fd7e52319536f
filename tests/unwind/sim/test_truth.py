"""Ground truth from the shadow stack: unit behaviour, every return address follows a call, and gdb agrees."""

from __future__ import annotations

import re
import subprocess

import capstone
import pytest

from conftest import ROOT, need_tool, run_tool
from unwind.sim.machine import Process
from unwind.sim.sampler import Simulation
from unwind.sim.shadow import EntryKind, ShadowStack

BIN = ROOT / "corpus" / "bin"
GDB_FRAMES = """python
f = gdb.newest_frame()
out = []
while f is not None:
    if f.type() not in (gdb.TAILCALL_FRAME, gdb.INLINE_FRAME):  # not return addresses on the stack (as test_core)
        out.append("%#x" % f.pc())
    f = f.older()
print("FRAMES:" + " ".join(out))
end
"""


# ---- the shadow stack on hand-made event sequences --------------------------------------

def test_call_ret_and_reuse_of_a_slot():
    s = ShadowStack()
    s.push(0x1000, 0xA)  # main's return address
    s.push(0xF00, 0xB)  # call f
    assert s.truth(0x99, 0xF00) == (0x99, 0xB, 0xA)
    # f returned (rsp went to 0xF08) and the same caller calls g from the same stack depth
    s.push(0xF00, 0xC)
    assert s.truth(0x98, 0xEF0) == (0x98, 0xC, 0xA)


def test_longjmp_like_jump_up_pops_everything_below_the_new_sp():
    s = ShadowStack()
    for i, slot in enumerate((0x1000, 0xF00, 0xE00, 0xD00)):
        s.push(slot, 0x10 + i)
    assert s.truth(0x5, 0xF00) == (0x5, 0x11, 0x10)
    assert len(s) == 2


def test_deeper_call_after_an_unobserved_return_drops_the_stale_entry():
    s = ShadowStack()
    s.push(0x1000, 0xA)
    s.push(0xE00, 0xB)  # a call whose return we did not see
    s.push(0xD00, 0xC)
    s.trim(0xE08)  # ...then rsp moved above it
    s.push(0xC00, 0xD)
    assert s.truth(1, 0xC00) == (1, 0xD, 0xA)


def test_signal_entries_keep_their_kinds():
    s = ShadowStack()
    s.push(0x1000, 0xA)
    s.push(0x800 + 176, 0x1234, EntryKind.INTERRUPTED)
    s.push(0x800, 0x4321, EntryKind.SIGNAL_RETURN)
    s.push(0x700, 0xB)
    assert s.truth(7, 0x6F0) == (7, 0xB, 0x4321, 0x1234, 0xA)
    assert s.truth_kinds(0x6F0) == (EntryKind.CALL, EntryKind.SIGNAL_RETURN, EntryKind.INTERRUPTED, EntryKind.CALL)


# ---- truth over whole runs ----------------------------------------------------------------

def _symbols(binary) -> dict[str, tuple[int, int]]:
    """name -> (start, end) of code symbols from `nm -S -n` (the peer tool); no size: up to the next symbol."""
    rows = []
    for line in run_tool(need_tool("nm"), "-C", "-S", "-n", "--defined-only", str(binary)).splitlines():
        parts = line.split("(")[0].split()
        if len(parts) == 4 and parts[2] in "tTwW":
            rows.append((parts[3], int(parts[0], 16), int(parts[1], 16)))
        elif len(parts) == 3 and parts[1] in "tTwW":
            rows.append((parts[2], int(parts[0], 16), 0))
    out = {}
    for i, (name, start, size) in enumerate(rows):
        following = [r[1] for r in rows[i + 1:] if r[1] > start]
        out.setdefault(name, (start, start + size if size else (following[0] if following else start + 1)))
    return out


def _follows_call(md, read, address: int) -> bool:
    code = read(address - 8, 8)
    for length in range(2, 9):
        insn = list(md.disasm_lite(code[8 - length:], address - length))
        if len(insn) == 1 and insn[0][1] == length and insn[0][2].split()[-1] == "call":
            return True
    return False


@pytest.mark.parametrize("name,args", [
    ("nonlocal-glibc-static-O2-nofp", ["40"]),
    ("exceptions-glibc-static-O0-fp", ["10"]),
    ("libcalls-glibc-dynamic-O2-fp", ["2"]),
    ("nonlocal-musl-dynamic-O0-fp", ["40"]),
    ("frames-glibc-dynamic-O0-nofp", ["80"]),
])
def test_every_return_address_follows_a_call_and_chains_end_in_the_entry_path(name, args):
    binary = BIN / name
    sim = Simulation(str(binary), args, period=1500, seed=11)
    proc = sim.process
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)

    def read(address, size):
        return bytes(proc.uc.mem_read(address, size))

    start = _symbols(binary)["_start"]
    exe_entry_seen = 0
    kinds_seen = set()
    for sample, kinds in zip(sim, iter(lambda: sim.truth_kinds[-1], None)):
        assert sample.truth[0] == sample.registers.pc
        for address, kind in zip(sample.truth[1:], kinds):
            kinds_seen.add(kind)
            if kind == EntryKind.CALL:
                assert _follows_call(md, read, address), hex(address)
        outermost = sample.truth[-1]
        if "static" in name:
            assert start[0] <= outermost < start[1]
        else:
            # before main runs the chain ends in the dynamic loader's own _start
            exe = proc.space.find(outermost)
            assert exe is not None and exe.path is not None
            exe_entry_seen += exe.path == str(binary.resolve()) and start[0] + 0x555555554000 <= outermost
    if "nonlocal" in name:
        assert {EntryKind.SIGNAL_RETURN, EntryKind.INTERRUPTED} <= kinds_seen
    if "dynamic" in name:
        assert exe_entry_seen > 0


# ---- gdb at the same pc gives the same frames ------------------------------------------

def _gdb_frames(binary, address: int, args: list[str]) -> list[int]:
    gdb = need_tool("gdb")
    out = subprocess.run([gdb, "-batch", "-nx", "-ex", "set backtrace past-main on", "-ex",
                          "set backtrace past-entry on", "-ex", "handle SIGUSR1 nostop noprint pass",
                          "-ex", f"break *{address:#x}", "-ex", "run", "-ex", GDB_FRAMES, "--args", str(binary), *args],
                         capture_output=True, text=True, timeout=120).stdout
    match = re.search(r"^FRAMES:(.*)$", out, re.M)
    assert match, out
    return [int(a, 16) for a in match.group(1).split()]


def _sample_pcs_in_exe(binary, args, count: int) -> list[int]:
    """pcs of real samples that fall in the program's own functions (not libc)."""
    own = {n: r for n, r in _symbols(binary).items() if n in ("leaf", "deep", "is_even", "is_odd", "tail_target",
                                                              "dive", "in_handler", "handler", "by_value", "fill",
                                                              "thrower", "catcher", "with_alloca", "with_vla",
                                                              "realigned", "inlined_host")
           or n.startswith(("uw_frame_state_for", "_Unwind_RaiseException"))}
    pcs = []
    for sample in Simulation(str(binary), args, period=997, seed=5):
        pc = sample.registers.pc
        if any(lo <= pc < hi for lo, hi in own.values()) and pc not in pcs:
            pcs.append(pc)
    step = max(1, len(pcs) // count)
    return pcs[::step][:count]


@pytest.mark.parametrize("name,args", [
    ("nonlocal-glibc-static-O0-fp", ["3"]),
    ("libcalls-glibc-static-O2-nofp", ["1"]),
    ("exceptions-glibc-static-O2-nofp", ["2"]),
    ("frames-glibc-static-O2-nofp", ["60"]),
])
def test_truth_at_sampled_pcs_equals_gdb_backtrace(name, args):
    binary = BIN / name
    checked = 0
    for pc in _sample_pcs_in_exe(binary, args, 3):
        proc = Process(str(binary), args)
        assert proc.run_to(pc)
        truth = list(proc.shadow.truth(proc.pc, proc.sp))
        assert truth == _gdb_frames(binary, pc, args), hex(pc)
        checked += 1
    assert checked >= 2


def test_truth_inside_a_signal_handler_equals_gdb():
    binary = BIN / "nonlocal-glibc-static-O0-fp"
    pc = _symbols(binary)["in_handler"][0]
    proc = Process(str(binary), ["2"])
    assert proc.run_to(pc)
    truth = list(proc.shadow.truth(proc.pc, proc.sp))
    frames = _gdb_frames(binary, pc, ["2"])
    assert truth == frames
    restore_rt = _symbols(binary)["__restore_rt"][0]
    assert truth[2] == restore_rt  # in_handler, handler, __restore_rt, the interrupted pc
