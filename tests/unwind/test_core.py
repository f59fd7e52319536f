"""Core files as samples: threads, registers, module map and memory against gdb and eu-unstrip; dwarf vs gdb."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from conftest import cores_helpers
from trace_invariants import assert_consistent

from formats.core import CoreFile
from unwind.core import CoreMemory, load_core
from unwind.errors import MemoryReadError
from unwind.model import Reg, StopReason, Via
from unwind.unwinders import get_unwinder


def test_one_sample_per_thread_with_gdbs_registers(built):
    core = built / "fp.core"
    process = load_core(str(core))
    out = subprocess.run(["gdb", "-nx", "-batch", "-ex", "thread apply all info registers rip rsp rbp rbx r12",
                          str(built / "fp"), str(core)], capture_output=True, text=True, check=True).stdout
    want: dict[int, dict[str, int]] = {}
    tid = None
    for line in out.splitlines():
        m = re.match(r"Thread \d+ \(Thread 0x[0-9a-f]+ \(LWP (\d+)\)\)", line)
        if m:
            tid = int(m[1])
            want[tid] = {}
            continue
        m = re.match(r"(rip|rsp|rbp|rbx|r12)\s+(0x[0-9a-f]+)", line)
        if m and tid is not None:
            want[tid][m[1]] = int(m[2], 16)
    assert sorted(want) == sorted(s.tid for s in process.samples) and len(want) == 6
    for sample in process.samples:
        for name, value in want[sample.tid].items():
            assert sample.registers[Reg[name.upper()]] == value
        assert sample.stack_base == sample.registers.sp and len(sample.stack) > 0
        assert sample.pid == process.core.pid and sample.comm == "fp"


def test_module_map_and_build_ids_match_eu_unstrip(built):
    core = built / "fp.core"
    process = load_core(str(core))
    out = subprocess.run(["eu-unstrip", "-n", "--core", str(core)], capture_output=True, text=True, check=True).stdout
    checked = 0
    for line in out.splitlines():
        start, build_id, name = int(line.split("+")[0], 16), line.split()[1].split("@")[0], line.split()[-1]
        mapping = process.modules.find(start)
        assert mapping is not None, line
        assert mapping.build_id is not None and mapping.build_id.hex() == build_id, line
        if name == "linux-vdso.so.1":
            assert mapping.path == "[vdso]" and process.resolver.module_for(mapping) is not None
        checked += 1
    assert checked >= 4


def test_core_memory_reads_what_gdb_reads(built):
    core = built / "fp.core"
    process = load_core(str(core))
    sample = process.samples[1]
    out = subprocess.run(["gdb", "-nx", "-batch", "-ex", "thread 2", "-ex", "x/4gx $sp",
                          "-ex", "x/2gx &parked", str(built / "fp"), str(core)],
                         capture_output=True, text=True, check=True).stdout
    words = [(int(a, 16), [int(w, 16) for w in ws.split()])
             for a, ws in re.findall(r"^(0x[0-9a-f]+)(?: <[^>]*>)?:\s+((?:0x[0-9a-f]+\s*)+)$", out, re.M)]
    memory = CoreMemory(process.core, sample, process.resolver)
    assert len(words) == 3
    for address, values in words:
        for i, value in enumerate(values):
            assert memory.read_u64(address + 8 * i) == value
    # code the dump leaves out comes from the mapped file
    pc = sample.registers.pc
    assert process.core.read(pc, 4) is None
    assert memory.read(pc, 4) == process.resolver.module_for(process.modules.find(pc)).elf.read_vaddr(
        pc - process.resolver.module_for(process.modules.find(pc)).bias, 4)
    with pytest.raises(MemoryReadError):
        memory.read(0x10, 8)


def test_exe_override_and_symfs(built, tmp_path):
    # Move the executable away: --exe points at the copy; --symfs finds a copy under a root.
    copy = tmp_path / "elsewhere"
    shutil.copy(built / "fp", copy)
    process = load_core(str(built / "fp.core"), exe=str(copy))
    assert str(copy) in {m.path for m in process.modules}
    root = tmp_path / "root"
    target = root / str(built / "fp").lstrip("/")
    target.parent.mkdir(parents=True)
    shutil.copy(built / "fp", target)
    process = load_core(str(built / "fp.core"), symfs=str(root))
    mapping = next(m for m in process.modules if m.path == str(built / "fp"))
    assert process.resolver.module_for(mapping).path == str(target)


@pytest.mark.parametrize("name", ["fp", "nofp"])
def test_dwarf_gives_gdbs_backtrace_for_every_thread(built, name):
    helpers = cores_helpers()
    exe, core = built / name, built / f"{name}.core"
    gdb = helpers.gdb_frames(str(exe), str(core))
    process = load_core(str(core))
    dwarf = get_unwinder("dwarf", resolver=process.resolver)
    crossed = 0
    for sample in process.samples:
        trace = dwarf.unwind(sample, memory=process.memory_for(sample))
        want = [pc for pc, _, _ in gdb[sample.tid]]
        assert list(trace.pcs) == want, f"{name} thread {sample.tid}"
        assert trace.stop == StopReason.END
        assert all(f.via == Via.CFI for f in trace.frames[1:])
        crossed += sum(kind == "sig" for _, kind, _ in gdb[sample.tid])
        if any(fn == "spin_alt" for _, _, fn in gdb[sample.tid]):
            # Handler on a sigaltstack: the snapshot alone (the alternate stack) ends right after the
            # signal frame, where the interrupted thread stack begins; the core's dump has the rest.
            alone = dwarf.unwind(sample)
            assert list(alone.pcs) == want[:4] and alone.stop == StopReason.BAD_MEMORY
    assert crossed == 2  # the signal thread's and the sigaltstack thread's signal frames were crossed


def test_corrupt_core_is_a_typed_error(built, tmp_path):
    from formats.errors import UnwindError

    data = (built / "fp.core").read_bytes()
    bad = tmp_path / "truncated.core"
    bad.write_bytes(data[:200])
    with pytest.raises(UnwindError):
        load_core(str(bad))
    with pytest.raises(UnwindError):
        load_core(str(built / "fp"))  # an executable, not a core
    assert CoreFile(str(built / "fp.core")).threads


def test_corrupted_notes_give_typed_errors_or_partial_traces(built, tmp_path):
    """Random byte changes inside the PT_NOTE segment of a real gcore: load and unwind never raise anything else."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from formats.errors import UnwindError

    data = (built / "fp.core").read_bytes()
    notes = next(s for s in CoreFile(str(built / "fp.core")).elf.segments if s.type == 4)
    auto = get_unwinder("auto", scan=True, max_depth=64)

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                     HealthCheck.function_scoped_fixture])
    @given(st.lists(st.tuples(st.integers(0, notes.filesz - 1), st.integers(0, 255)), min_size=1, max_size=12))
    def check(changes):
        raw = bytearray(data)
        for at, value in changes:
            raw[notes.offset + at] = value
        path = tmp_path / "mutated.core"
        path.write_bytes(raw)
        try:
            process = load_core(str(path))
        except UnwindError:
            return
        for sample in process.samples:
            assert_consistent(auto.unwind(sample, memory=process.memory_for(sample)), sample, 64)

    check()
