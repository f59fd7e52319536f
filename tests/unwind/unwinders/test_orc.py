"""The `orc` unwinder against gdb's backtraces on objtool-processed programs, and ORC semantics by hand."""

from __future__ import annotations

import re
import struct

import pytest
from conftest import need_tool, orc_fixtures, run_tool
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trace_invariants import assert_consistent

from formats.elf import ElfFile
from formats.orc import OrcEntry, OrcLayout, OrcReg, OrcType, make_entry
from unwind.memory import AddressSpace
from unwind.model import Mapping, ModuleMap, Registers, Sample, StopReason, Via
from unwind.unwinders import get_unwinder
from unwind.unwinders.orc import OrcUnwinder, entry_rule
from unwind.walk import walk

fx = orc_fixtures()
RSP, RBP, RBX, RIP = 7, 6, 3, 16


def sample_of(stop: dict) -> Sample:
    mappings = ModuleMap(Mapping(start, end, offset, path) for start, end, offset, path in stop["mappings"])
    registers = Registers({int(k): v for k, v in stop["regs"].items()})
    return Sample(registers, bytes.fromhex(stop["stack"]), stop["stack_base"], mappings)


def gdb_prefix(stop: dict, sample: Sample) -> list[int]:
    """gdb's frames up to and including the first return address outside the program (into libc)."""
    pcs = stop["gdb"]
    for i, pc in enumerate(pcs):
        if sample.modules.find(pc) is None:
            return pcs[:i + 1]
    return pcs


@pytest.fixture(scope="module")
def stops(tmp_path_factory):
    out = tmp_path_factory.mktemp("orc-gdb")
    result = {}
    for version in ("6.1", "6.12"):
        exe = fx.user_objects(version, out)["exe"]
        result[version] = fx.gdb_stops(exe, out / f"stops-{version}.jsonl")
    return result


@pytest.mark.parametrize("version", ["6.1", "6.12"])
def test_every_instruction_equals_gdb(stops, version):
    """At every executed instruction of every function (prologues, bodies, epilogues) the walk gives gdb's frames."""
    unwinder = get_unwinder("orc")
    assert isinstance(unwinder, OrcUnwinder)
    records = stops[version]
    assert len(records) > 80
    for stop in records:
        sample = sample_of(stop)
        trace = unwinder.unwind(sample)
        expected = gdb_prefix(stop, sample)
        assert len(expected) >= 2
        assert list(trace.pcs) == expected, hex(stop["regs"]["16"])
        # The walk leaves the program through main's return into libc, which has no ORC.
        assert trace.stop == StopReason.NO_UNWIND_INFO
        assert [f.via for f in trace.frames] == [Via.CONTEXT] + [Via.ORC] * (len(expected) - 1)


def test_the_layout_matters(stops):
    """Forcing the other kernel's layout breaks the walks: the comparison above can fail."""
    unwinder = OrcUnwinder(orc_version="6.1")
    records = stops["6.12"]
    wrong = sum(list(unwinder.unwind(sample_of(s)).pcs) != gdb_prefix(s, sample_of(s)) for s in records)
    assert wrong > len(records) // 2


@pytest.mark.parametrize("version", ["6.1", "6.12"])
def test_perf_recording_equals_perf_script(tmp_path, version):
    """perf record --call-graph dwarf of the program: ORC walks equal perf script's own (libdw) unwinding."""
    need_tool("perf")
    exe = fx.user_objects(version, tmp_path)["exe"]
    data = tmp_path / "perf.data"
    run_tool("perf", "record", "-q", "-e", "cpu-clock", "-F", "2000", "--call-graph", "dwarf,8192", "-o", str(data),
             str(exe), "10000000")
    from unwind.perfsession import PerfSession

    text = run_tool("perf", "script", "-F", "ip", "-i", str(data))
    # perf prints map-relative addresses, return addresses minus one, and inline frames twice
    blocks = [[int(line.split()[0], 16) for line in block.strip().splitlines() if "(inlined)" not in line]
              for block in text.strip("\n").split("\n\n")]
    samples = list(PerfSession(str(data)).samples())
    assert len(samples) == len(blocks)
    spans = [(int(v, 16), int(v, 16) + int(n, 16)) for v, n, _, name in
             (line.split() for line in run_tool("nm", "-S", str(exe)).splitlines() if len(line.split()) == 4)
             if name in fx.USER_FUNCTIONS]
    unwinder, compared, perf_gave_up = OrcUnwinder(), 0, 0
    for sample, block in zip(samples, blocks):
        mapping = sample.modules.find(sample.registers.pc)
        if mapping is None or mapping.path != str(exe):
            continue  # in libc or the kernel: no ORC there
        if not any(lo <= mapping.file_offset(sample.registers.pc) < hi for lo, hi in spans):
            continue  # PLT stubs: objtool only describes the compiled functions (text offset == vaddr here)
        trace = unwinder.unwind(sample)
        ours = [sample.modules.find(f.lookup_pc).file_offset(f.lookup_pc) for f in trace.frames]
        theirs = [ip for ip in block if ip < 1 << 63]
        if len(theirs) < len(ours):
            # perf's unwinder gave up inside the program (it does in a few samples in realigned's frame,
            # where other samples' chains go on through recurse and main): ours agrees as far as it went
            assert theirs == ours[:len(theirs)]
            perf_gave_up += 1
        else:
            assert theirs[:len(ours)] == ours
        assert trace.stop == StopReason.NO_UNWIND_INFO and len(ours) >= 2
        compared += 1
    assert compared > 50 and perf_gave_up <= compared // 10


# ---- kernel module (relocatable) tables --------------------------------------------------------------

_CALL_ROW = re.compile(r"^\.text\+([0-9a-f]+):? ?(?:type:call )?sp:sp\+(\d+) bp:\(und\)(?: type:call)?")


@pytest.mark.parametrize("version", ["6.1", "6.12"])
def test_module_mapped_at_a_kernel_address(version):
    """A .ko's .text mapped at a kernel address: rows picked from objtool's own dump drive a two-frame walk."""
    path = fx.kernel_modules(version)[0]
    rows = [(int(m[1], 16), int(m[2])) for line in run_tool(fx.objtool(version), "--dump=orc", str(path)).splitlines()
            if (m := _CALL_ROW.match(line))]
    (off_a, size_a), (off_b, size_b) = next((a, b) for a, b in zip(rows, rows[5:]) if a[1] >= 16 and b[1] >= 16)
    text = ElfFile(path).section(".text")
    base, sp = 0xFFFFFFFFC0A00000, 0xFFFFC90000123000
    stack = bytearray(size_a + size_b + 64)
    struct.pack_into("<Q", stack, size_a - 8, base + off_b + 1)   # frame 0's return address: inside row B
    struct.pack_into("<Q", stack, size_a + size_b - 8, 0)         # row B's caller: 0 ends the stack
    modules = ModuleMap([Mapping(base, base + text.size, text.offset, str(path))])
    sample = Sample(Registers({RIP: base + off_a, RSP: sp, RBP: 0x1234}), bytes(stack), sp, modules)
    trace = OrcUnwinder().unwind(sample)
    assert trace.pcs == (base + off_a, base + off_b + 1)
    assert trace.frames[1].sp == sp + size_a
    assert trace.stop == StopReason.END


# ---- ORC semantics, hand-assembled ----------------------------------------------------------------

SP0 = 0x7FFF0000


def run_entry(entry: OrcEntry, stack: bytes):
    """Walk one frame with `entry` from pc 0x401000, sp SP0, then stop (the caller has no table)."""
    sample = Sample(Registers({RIP: 0x401000, RSP: SP0}), stack, SP0)
    first = True

    def rule_for(address, frame):
        nonlocal first
        rule, first = (entry_rule(entry) if first else None), False
        return rule

    return walk(sample, rule_for, via=Via.ORC), AddressSpace(sample)


def words(*values: int) -> bytes:
    return b"".join(struct.pack("<Q", v) for v in values)


def test_call_with_bp_saved_at_prev_sp():
    # sp:sp+24 bp:prevsp-16: stack = [pad, saved rbp, return address]
    trace, _ = run_entry(make_entry(OrcType.CALL, OrcReg.SP, 24, OrcReg.PREV_SP, -16), words(0, 0xB0B0, 0x402222))
    assert trace.pcs == (0x401000, 0x402222)
    assert trace.frames[1].sp == SP0 + 24
    entry = make_entry(OrcType.CALL, OrcReg.SP, 24, OrcReg.PREV_SP, -16)
    caller = entry_rule(entry).step(Registers({RIP: 1, RSP: SP0}),
                                    AddressSpace(Sample(Registers(), words(0, 0xB0B0, 5), SP0)))
    assert (caller[RBP], caller[RSP], caller[RIP]) == (0xB0B0, SP0 + 24, 5)


def test_bp_based_cfa_and_bp_rule():
    # sp:bp+16 bp:bp+0 with rbp = SP0 + 8: [.., saved rbp @rbp, ra @rbp+8]
    entry = make_entry(OrcType.CALL, OrcReg.BP, 16, OrcReg.BP, 0)
    memory = AddressSpace(Sample(Registers(), words(0, 0xCAFE, 0x403333), SP0))
    caller = entry_rule(entry).step(Registers({RIP: 1, RSP: SP0, RBP: SP0 + 8}), memory)
    assert (caller[RIP], caller[RSP], caller[RBP]) == (0x403333, SP0 + 24, 0xCAFE)


def test_sp_indirect_loads_then_adds():
    # sp:(sp)+16: previous sp = *(sp) + 16; ra at previous sp - 8
    stack = words(SP0 + 0x20, 0, 0, 0, 0, 0x404444)
    caller = entry_rule(make_entry(OrcType.CALL, OrcReg.SP_INDIRECT, 16)).step(
        Registers({RIP: 1, RSP: SP0}), AddressSpace(Sample(Registers(), stack, SP0)))
    assert (caller[RSP], caller[RIP]) == (SP0 + 0x30, 0x404444)


def test_bp_indirect_loads_at_bp_plus_offset():
    # sp:(bp-8): previous sp = *(rbp - 8)
    stack = words(0, SP0 + 0x20, 0, 0x405555)  # rbp-8 -> SP0+8 holds the previous sp; ra at SP0+0x18
    caller = entry_rule(make_entry(OrcType.CALL, OrcReg.BP_INDIRECT, -8)).step(
        Registers({RIP: 1, RSP: SP0, RBP: SP0 + 16}), AddressSpace(Sample(Registers(), stack, SP0)))
    assert (caller[RSP], caller[RIP]) == (SP0 + 0x20, 0x405555)


def test_regs_reads_a_full_pt_regs():
    # struct pt_regs: r15 r14 r13 r12 bp bx r11 r10 r9 r8 ax cx dx si di orig_ax ip cs flags sp ss
    pt_regs = words(*range(100, 121))
    trace, _ = run_entry(make_entry(OrcType.REGS, OrcReg.SP, 0), pt_regs)
    caller = entry_rule(make_entry(OrcType.REGS, OrcReg.SP, 0)).step(
        Registers({RIP: 1, RSP: SP0}), AddressSpace(Sample(Registers(), pt_regs, SP0)))
    assert (caller[RIP], caller[RSP], caller[RBP], caller[RBX], caller[15]) == (116, 119, 104, 105, 100)
    assert trace.pcs == (0x401000, 116)


def test_regs_partial_reads_the_iret_frame():
    # sp:sp+8 type:regs (partial): iret frame (ip, cs, flags, sp, ss) at sp + 8; rbx carries over
    stack = words(0, 0x406666, 0x10, 0x246, SP0 + 0x100, 0x18)
    caller = entry_rule(make_entry(OrcType.REGS_PARTIAL, OrcReg.SP, 8)).step(
        Registers({RIP: 1, RSP: SP0, RBX: 77}), AddressSpace(Sample(Registers(), stack, SP0)))
    assert (caller[RIP], caller[RSP], caller[RBX]) == (0x406666, SP0 + 0x100, 77)


@pytest.mark.parametrize("entry,stop", [
    (make_entry(OrcType.END_OF_STACK, OrcReg.UNDEFINED, 0), StopReason.END),
    (make_entry(OrcType.CALL, OrcReg.UNDEFINED, 0, end=True, layout=OrcLayout.V6_1), StopReason.END),
    (make_entry(OrcType.UNDEFINED, OrcReg.UNDEFINED, 0), StopReason.NO_UNWIND_INFO),
    (make_entry(OrcType.CALL, OrcReg.UNDEFINED, 0, layout=OrcLayout.V6_1), StopReason.NO_UNWIND_INFO),
    (OrcEntry(8, 0, OrcReg.SP, 0, 7, layout=OrcLayout.V6_4), StopReason.BAD_RULE),      # type 7: no such type
    (make_entry(OrcType.CALL, OrcReg.PREV_SP, 8), StopReason.BAD_RULE),                # prevsp cannot base sp
    (make_entry(OrcType.CALL, OrcReg.SP, 8, 12, 0), StopReason.BAD_RULE),              # bp base 12: unknown
    (make_entry(OrcType.CALL, OrcReg.SP, 64), StopReason.BAD_MEMORY),                 # ra beyond the snapshot
])
def test_stops(entry, stop):
    trace, _ = run_entry(entry, words(0x401111, 0))
    assert trace.stop == stop
    assert trace.pcs == (0x401000,)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stack=st.binary(max_size=512), pc_index=st.integers(0, 10_000), regs=st.lists(st.integers(0, 2**64 - 1),
       min_size=17, max_size=17))
def test_random_stacks_never_raise(stops, stack, pc_index, regs):
    stop = stops["6.12"][pc_index % len(stops["6.12"])]
    values = dict(enumerate(regs))
    values[RIP] = stop["regs"]["16"]
    values[RSP] = SP0
    sample = Sample(Registers(values), stack, SP0, sample_of(stop).modules)
    trace = OrcUnwinder(max_depth=32).unwind(sample)
    assert_consistent(trace, sample, 32, tables_only=True)


# ---- the kernel proper: pt_regs and iret frames at entry-code addresses --------------------------

_ROW = re.compile(r"^([0-9a-f]+): ?(?:type:(\S+(?: \(partial\))?) )?sp:sp\+(\d+) bp:\(und\)"
                  r"(?: type:(\S+(?: \(partial\))?))?")


@pytest.fixture(scope="module")
def kernel_rows(tmp_path_factory):
    """{version: {type name: [(address, sp offset), ...]}} from objtool's dump of each vmlinux."""
    out = tmp_path_factory.mktemp("vmlinux")
    result = {}
    for version in ("6.1", "6.12"):
        copy = out / f"vmlinux-{version}"
        run_tool("objcopy", "--add-symbol", "orc_dump_anchor=.text:0", str(fx.vmlinux(version)), str(copy))
        rows: dict[str, list[tuple[int, int]]] = {}
        for line in run_tool(fx.objtool(version), "--dump=orc", str(copy)).splitlines():
            if (m := _ROW.match(line)) and "end:1" not in line:
                rows.setdefault(m[2] or m[4], []).append((int(m[1], 16), int(m[3])))
        result[version] = rows
    return result


def kernel_sample(version: str, pc: int, stack: bytes, sp: int) -> Sample:
    path = fx.vmlinux(version)
    text = next(s for s in ElfFile(path).load_segments if s.is_executable)
    modules = ModuleMap([Mapping(text.vaddr, text.vaddr + text.filesz, text.offset, str(path))])
    return Sample(Registers({RIP: pc, RSP: sp, RBX: 0x5151}), stack, sp, modules)


@pytest.mark.slow
@pytest.mark.parametrize("version", ["6.1", "6.12"])
@pytest.mark.parametrize("kind", ["regs", "regs (partial)"])
def test_vmlinux_interrupt_frames(kernel_rows, version, kind):
    """At an entry-code address objtool marks regs/partial, the caller comes out of the pt_regs/iret frame."""
    rows = kernel_rows[version]
    pc, offset = rows[kind][0]
    callee, _ = next(r for r in rows["call"] if r[1] == 8)  # a function's first instruction: ra at sp
    sp = 0xFFFFC90000400000
    stack = bytearray(offset + 21 * 8 + 16)
    if kind == "regs":  # struct pt_regs at sp + offset: ip is word 16, sp word 19
        struct.pack_into("<Q", stack, offset + 16 * 8, callee)
        struct.pack_into("<Q", stack, offset + 19 * 8, sp + offset + 21 * 8)
    else:  # iret frame at sp + offset: ip, cs, flags, sp, ss
        struct.pack_into("<QQQQQ", stack, offset, callee, 0x10, 0x246, sp + offset + 21 * 8, 0x18)
    trace = OrcUnwinder().unwind(kernel_sample(version, pc, bytes(stack), sp))
    # callee's first instruction reads its return address (0: end of stack) at the restored sp
    assert trace.pcs == (pc, callee)
    assert trace.frames[1].sp == sp + offset + 21 * 8
    assert not trace.frames[1].is_return_address
    assert trace.stop == StopReason.END
