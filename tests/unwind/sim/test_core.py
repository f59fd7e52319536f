"""Cores written at sample instants: gdb's backtrace of the core equals the truth (checks registers, memory,
sigframes)."""

from __future__ import annotations

import re
import subprocess

import capstone
import pytest
from unicorn import UC_HOOK_CODE
from unicorn.x86_const import UC_X86_REG_RCX

from conftest import ROOT, need_tool, run_tool
from formats.elf import ElfFile
from unwind.compare import make_unwinder
from unwind.modules import mapping_bias
from unwind.sim.core import write_core
from unwind.sim.machine import Process
from unwind.sim.sampler import Simulation, capture

BIN = ROOT / "corpus" / "bin"
PIE_BASE = 0x555555554000
# Tail-call frames (from DW_TAG_call_site) and inline frames are not return addresses on the stack: skip them.
GDB_FRAMES = """python
f = gdb.newest_frame()
out = []
while f is not None:
    if f.type() not in (gdb.TAILCALL_FRAME, gdb.INLINE_FRAME):
        out.append("%#x" % f.pc())
    f = f.older()
print("FRAMES:" + " ".join(out))
end
"""
GDB_THREAD_FRAMES = """python
for th in gdb.selected_inferior().threads():
    th.switch()
    f = gdb.newest_frame()
    out = []
    while f is not None:
        if f.type() not in (gdb.TAILCALL_FRAME, gdb.INLINE_FRAME):
            out.append("%#x" % f.pc())
        f = f.older()
    print("THREAD %d FRAMES:%s" % (th.ptid[1], " ".join(out)))
print("THREADS DONE")
end
"""


def _main_range(binary) -> tuple[int, int]:
    for line in run_tool(need_tool("nm"), "-S", str(binary)).splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[3] == "main":
            start = int(parts[0], 16) + (PIE_BASE if "dynamic" in binary.name else 0)
            return start, start + int(parts[1], 16)
    raise AssertionError("no main")


def _gdb_core_frames(binary, core) -> list[int]:
    out = subprocess.run([need_tool("gdb"), "-batch", "-nx", "-ex", "set backtrace past-main on", "-ex",
                          "set backtrace past-entry on", "-ex", GDB_FRAMES, str(binary), str(core)],
                         capture_output=True, text=True, timeout=120).stdout
    match = re.search(r"^FRAMES:(.*)$", out, re.M)
    assert match, out
    return [int(a, 16) for a in match.group(1).split()]


@pytest.mark.parametrize("name,args,period", [
    ("nonlocal-glibc-static-O2-nofp", ["6"], 700),     # tail call into raise, signal frames
    ("nonlocal-glibc-dynamic-O2-nofp", ["6"], 1500),   # the same through the PLT and libc.so
    ("exceptions-glibc-dynamic-O0-fp", ["3"], 9000),   # samples inside the C++ unwinder
    ("libcalls-glibc-static-O2-nofp", ["2"], 5000),   # qsort calling back into the program
])
def test_gdb_backtrace_of_a_core_written_at_a_sample_equals_truth(tmp_path, name, args, period):
    binary = BIN / name
    lo, hi = _main_range(binary)
    sim = Simulation(str(binary), args, period=period, seed=6)
    checked = 0
    for i, sample in enumerate(sim):
        # main must be live: gdb's own heuristics are wrong in CFI-less startup/teardown code (crtstuff, ld.so)
        if not any(lo <= a < hi for a in sample.truth) or i % 3:
            continue
        core = tmp_path / f"{i}.core"
        write_core(sim.process, core)
        assert _gdb_core_frames(binary, core) == list(sample.truth), f"sample {i}"
        checked += 1
        if checked == 4:
            break
    assert checked >= 2


@pytest.mark.parametrize("name", ["nonlocal-glibc-static-O0-fp", "nonlocal-glibc-dynamic-O2-nofp"])
def test_gdb_unwinds_through_our_rt_sigframe(tmp_path, name):
    """gdb reads the interrupted registers from the kernel-layout sigcontext we wrote below the handler."""
    from unwind.sim.shadow import EntryKind

    binary = BIN / name
    symbols = {}
    for line in run_tool(need_tool("nm"), str(binary)).splitlines():
        parts = line.split()
        if len(parts) == 3:
            symbols[parts[2]] = int(parts[0], 16) + (PIE_BASE if "dynamic" in name else 0)
    proc = Process(str(binary), ["3"])
    assert proc.run_to(symbols["leaf"]) and proc.run_to(symbols["in_handler"])
    assert proc.run_to(symbols["leaf"])  # leaf called from in_handler, inside the signal handler
    truth = proc.shadow.truth(proc.pc, proc.sp)
    assert EntryKind.SIGNAL_RETURN in proc.shadow.truth_kinds(proc.sp)
    core = tmp_path / "handler.core"
    write_core(proc, core)
    assert _gdb_core_frames(binary, core) == list(truth)


def test_gdb_unwinds_out_of_the_mapped_vdso(tmp_path):
    """With vdso=True the host's vDSO is mapped (AT_SYSINFO_EHDR); gdb finds it in the core and agrees with truth."""
    from unwind.sim.loader import host_vdso

    _size, image = host_vdso()
    (tmp_path / "vdso.so").write_bytes(image)
    symbols = {}
    for line in run_tool(need_tool("nm"), "-D", str(tmp_path / "vdso.so")).splitlines():
        parts = line.split()
        if len(parts) == 3:
            symbols[parts[2].split("@")[0]] = int(parts[0], 16)
    binary = BIN / "sysprobe-glibc-dynamic-O2-fp"
    for steps in (0, 6):
        proc = Process(str(binary), vdso=True)
        base = next(v.start for v in proc.space.vmas if v.path == "[vdso]")
        assert proc.run_to(base + symbols["__vdso_clock_gettime"])
        for _ in range(steps):
            proc.step(1)
        assert base <= proc.pc < base + len(image)
        truth = proc.shadow.truth(proc.pc, proc.sp)
        core = tmp_path / f"vdso{steps}.core"
        write_core(proc, core)
        assert _gdb_core_frames(binary, core) == list(truth)


def test_gdb_backtraces_every_thread_of_a_core_as_truth_says(tmp_path):
    """Cores of a threaded run hold one NT_PRSTATUS per thread; gdb's per-thread backtraces match each shadow stack."""
    from unicorn.x86_const import UC_X86_REG_RIP, UC_X86_REG_RSP

    binary = BIN / "threads-glibc-dynamic-O2-nofp"
    sim = Simulation(str(binary), [], period=15000, seed=4)
    checked_threads = cores = 0
    tids = set()
    for i, sample in enumerate(sim):
        proc = sim.process
        tids.add(sample.tid)
        live = [t for t in proc.threads.values() if t.state.value != "exited"]
        if len(live) < 3 or i % 2:
            continue
        core = tmp_path / f"{i}.core"
        write_core(proc, core)
        # threads from the core's NT_PRSTATUS notes only: libthread_db would also list exited, unjoined threads
        out = subprocess.run([need_tool("gdb"), "-batch", "-nx", "-iex", "set libthread-db-search-path /nonexistent",
                              "-ex", "set backtrace past-main on", "-ex", "set backtrace past-entry on",
                              "-ex", GDB_THREAD_FRAMES, str(binary), str(core)],
                             capture_output=True, text=True, timeout=120).stdout
        frames = {int(m.group(1)): [int(a, 16) for a in m.group(2).split()]
                  for m in re.finditer(r"^THREAD (\d+) FRAMES:(.*)$", out, re.M)}
        assert set(frames) == {t.tid for t in live}, out[-2000:]
        for t in live:
            if t is proc.current:
                truth = list(sample.truth)
            else:
                truth = list(t.shadow.truth(t.context.reg_read(UC_X86_REG_RIP), t.context.reg_read(UC_X86_REG_RSP)))
            got = frames[t.tid]
            if len(truth) == 1 and got[1:] == [0]:
                got = got[:1]  # a thread that has not run yet: nothing on its stack, gdb adds a null frame
            assert got == truth, f"sample {i} thread {t.tid}"
            checked_threads += 1
        cores += 1
        if cores == 3:
            break
    assert cores == 3 and checked_threads >= 9
    assert len(tids) >= 3  # samples come from several threads


# ---- C++ exceptions: libgcc's context install ----------------------------------------------

INSTALLERS = ("_Unwind_RaiseException", "_Unwind_Resume")


def _installers(path: str, dynamic: bool, bias: int) -> dict[int, tuple[int, int]]:
    """entry -> (address of `mov rsp, rcx`, address of the final `jmp rcx`): eh_return's epilogue in each installer."""
    elf = ElfFile(path)
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    out = {}
    for line in run_tool(need_tool("nm"), "-S", *(["-D"] if dynamic else []), path).splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[3].split("@")[0] in INSTALLERS:
            start, size = int(parts[0], 16), int(parts[1], 16)
            insns = list(md.disasm_lite(elf.read_vaddr(start, size), start))
            k = max(i for i, ins in enumerate(insns) if ins[2] == "jmp" and not ins[3].startswith("0x"))
            assert (insns[k - 2][2:], insns[k - 1][2:]) == (("mov", "rsp, rcx"), ("pop", "rcx")), insns[k - 3:k + 1]
            out[start + bias] = (insns[k - 2][0] + bias, insns[k][0] + bias)
    assert len(out) == len(INSTALLERS)
    return out


class _Stops:
    """Stops the run before any of `addresses` executes; the hooks stay for the whole run (hooks added and
    removed around each stop missed later hits of the same addresses in the static builds)."""

    def __init__(self, proc, addresses):
        self.proc, self.hit, self.resume = proc, None, None
        for address in addresses:
            proc.uc.hook_add(UC_HOOK_CODE, self._stop, None, address, address)

    def _stop(self, uc, address, size, _data):
        if address == self.resume:  # the instruction we stopped before: let it run this time
            self.resume = None
            return
        self.hit = address
        uc.emu_stop()

    def next(self) -> int | None:
        """Run on to the next stop; None once the process has ended."""
        self.resume, self.hit = self.proc.pc, None
        while self.hit is None and self.proc.step(1_000_000):
            pass
        return self.hit if not self.proc.exited else None

    def step(self) -> None:
        """Execute the instruction we stopped before."""
        self.resume = self.proc.pc
        self.proc.step(1)


@pytest.mark.parametrize("name", sorted(p.name for p in BIN.glob("exceptions-*")))
def test_truth_across_libgcc_context_installs(tmp_path, name):
    """At every landing pad libgcc jumps to, the innermost live entry is the installed frame's own return
    address (nothing of the abandoned frames survives), and gdb on cores written at the installer's entry and at
    the landing pad equals the truth.  In between, uw_install_context has rewritten the installer's saved
    registers and return address in memory to the target frame's, so memory disagrees with the truth's pushed
    value there (the window of the 5 corpus samples where dwarf and gdb differ from the truth)."""
    binary = BIN / name
    dynamic = "dynamic" in name
    proc = Process(str(binary), ["40"])
    lo, _hi = _main_range(binary)
    assert proc.run_to(lo)  # ld.so has mapped libgcc_s.so.1 by now
    if dynamic:
        libgcc = next(m for m in proc.space.module_map() if m.path and "libgcc_s.so" in m.path)
        installers = _installers(libgcc.path, True, mapping_bias(ElfFile(libgcc.path), libgcc))
    else:
        installers = _installers(str(binary), False, 0)
    epilogues = {mov: jmp for mov, jmp in installers.values()}
    stops = _Stops(proc, [*installers, *epilogues, *epilogues.values()])
    dwarf = make_unwinder("dwarf")
    entries = landings = 0
    while (stop := stops.next()) is not None:
        truth = proc.shadow.truth(proc.pc, proc.sp)
        if stop in installers:
            if entries < 2:  # _Unwind_RaiseException, then _Unwind_Resume from the thrower's cleanup pad
                write_core(proc, tmp_path / "core")
                assert _gdb_core_frames(binary, tmp_path / "core") == list(truth), "entry of an installer"
            entries += 1
            continue
        # at `mov rsp, rcx` (rcx = the landing pad's rsp - 8, the slot of the call the target frame abandons):
        # the installer's return address now reads as that abandoned call's, as if called from the target frame
        slot, pushed = proc.shadow.slots[-1], proc.shadow.values[-1]
        assert truth[1] == pushed
        abandoned = dict(zip(proc.shadow.slots, proc.shadow.values))[proc.uc.reg_read(UC_X86_REG_RCX)]
        assert int.from_bytes(proc.uc.mem_read(slot, 8), "little") == abandoned != pushed
        assert stops.next() == epilogues[stop]
        stops.step()  # the jmp: now at the landing pad
        sample = capture(proc)
        cfa = dwarf.unwind(sample).frames[0].cfa
        assert min(proc.shadow.slots) == cfa - 8, "an entry inside the installed frame survived"
        assert sample.truth[1] == int.from_bytes(proc.uc.mem_read(cfa - 8, 8), "little")
        if landings < 3:
            write_core(proc, tmp_path / "core")
            assert _gdb_core_frames(binary, tmp_path / "core") == list(sample.truth), "at a landing pad"
        landings += 1
    assert proc.report.exit_code == 0
    assert entries == landings == 296  # catcher(i) throws at depth 3 + i % 6: a raise, a resume per frame to catcher
