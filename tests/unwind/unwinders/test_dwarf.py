"""The `dwarf` unwinder on live processes: registers and stack captured by gdb at a breakpoint, our pcs
compared with gdb's physical frames (inline and tail-call frames left out); plus the compiled-table cache."""

from __future__ import annotations

import sys
from pathlib import Path

# tests/conftest.py puts tests/ and tests/unwind on sys.path ahead of the repository, so `unwind`,
# `formats.cfi` and `unwind.cli` can resolve to the namespace folders of the tests; put the real
# packages first and drop namespace stand-ins (real modules keep their identity).
_ROOT = str(Path(__file__).resolve().parents[3])
if sys.path[0] != _ROOT:
    sys.path.insert(0, _ROOT)
for _name in [n for n, m in list(sys.modules.items())
              if n.split(".")[0] in ("unwind", "formats") and getattr(m, "__file__", None) is None]:
    del sys.modules[_name]

import json
import subprocess

import pytest
from conftest import LIBC, need_tool
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trace_invariants import assert_consistent

from formats.elf import ElfFile
from unwind.cfi_tables import FORMAT_VERSION, CfiCache
from unwind.index import cache_dir
from unwind.model import Mapping, ModuleMap, Reg, Registers, Sample, StopReason, Via
from unwind.unwinders import get_unwinder

PROGRAM = r"""#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

volatile int sink;

__attribute__((noinline)) void leaf(int x) {
    sink = x;  /* the breakpoint */
}

static int cmp(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    if (x == 3 || y == 3) leaf(x + y);
    return (x > y) - (x < y);
}

static void handler(int sig) { leaf(sig); }

__attribute__((noinline)) int level3(int *arr, int n, int mode) {
    if (mode) raise(SIGUSR1);
    else qsort(arr, n, sizeof *arr, cmp);
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

GDB_SCRIPT = r"""import gdb, json
gdb.execute("set pagination off")
gdb.execute("set backtrace past-main on")
gdb.execute("handle SIGUSR1 nostop noprint pass")
gdb.execute("break " + BREAK)
gdb.execute("run" + ARGS, to_string=True)
if THEN:
    gdb.execute("break " + THEN)
    gdb.execute("continue", to_string=True)
regs = {}
for name in ["rax","rdx","rcx","rbx","rsi","rdi","rbp","rsp","r8","r9","r10","r11","r12","r13","r14","r15","rip"]:
    regs[name] = int(gdb.parse_and_eval("$" + name).cast(gdb.lookup_type("unsigned long")))
maps = []
for line in gdb.execute("info proc mappings", to_string=True).splitlines():
    parts = line.split()
    if len(parts) >= 5 and parts[0].startswith("0x"):
        maps.append([int(parts[0], 16), int(parts[1], 16), int(parts[3], 16), parts[5] if len(parts) >= 6 else None])
stack = [m for m in maps if m[3] == "[stack]"][0]
sp = regs["rsp"]
open(OUT + ".stack", "wb").write(bytes(gdb.selected_inferior().read_memory(sp, stack[1] - sp)))
frames = []
f = gdb.newest_frame()
while f is not None:
    frames.append([f.pc(), int(f.type())])
    f = f.older()
json.dump({"regs": regs, "maps": maps, "sp": sp, "bt": frames, "normal": int(gdb.NORMAL_FRAME),
           "sigtramp": int(gdb.SIGTRAMP_FRAME)}, open(OUT + ".json", "w"))
gdb.execute("kill")
"""

VARIANTS = {
    "eh_frame-qsort": (["-O2", "-fomit-frame-pointer"], ""),
    "eh_frame-signal": (["-O2", "-fomit-frame-pointer"], " x"),
    "debug_frame-qsort": (["-O2", "-fomit-frame-pointer", "-fno-asynchronous-unwind-tables", "-g"], ""),
    "O0-frame-pointer": (["-O0"], ""),
    "separate-debug-file": (["-O2", "-fomit-frame-pointer", "-fno-asynchronous-unwind-tables", "-g"], "split"),
    "plt-stub": (["-O2", "-fomit-frame-pointer"], "", "qsort@plt"),  # CFA by DW_CFA_def_cfa_expression
    "function-entry": (["-O2", "-fomit-frame-pointer"], "", "*level2"),  # frame 0 before any push
}


def capture(tmp_path, flags, args, where="leaf", then=None, source=PROGRAM):
    src = tmp_path / "prog.c"
    src.write_text(source)
    exe = tmp_path / "prog"
    subprocess.run([need_tool("gcc"), *flags, "-o", str(exe), str(src)], check=True)
    if args == "split":  # .debug_frame only in prog.debug, found through .gnu_debuglink
        args = ""
        objcopy = need_tool("objcopy")
        subprocess.run([objcopy, "--only-keep-debug", str(exe), str(exe) + ".debug"], check=True)
        subprocess.run([objcopy, "--strip-debug", f"--add-gnu-debuglink={exe}.debug", str(exe)], check=True,
                       cwd=tmp_path)
        assert ElfFile(exe).section(".debug_frame") is None
        assert ElfFile(str(exe) + ".debug").section(".debug_frame") is not None
    script = tmp_path / "cap.py"
    script.write_text(GDB_SCRIPT)
    out = str(tmp_path / "cap")
    subprocess.run([need_tool("gdb"), "-q", "-batch", "-nx", "-ex",
                    f"python OUT={out!r}; ARGS={args!r}; BREAK={where!r}; THEN={then!r}", "-x", str(script), str(exe)],
                   check=True, capture_output=True)
    with open(out + ".json") as fh:
        data = json.load(fh)
    with open(out + ".stack", "rb") as fh:
        stack = fh.read()
    names = {r.name.lower(): r for r in Reg}
    regs = Registers({names[k]: v for k, v in data["regs"].items()})
    modules = ModuleMap(Mapping(s, e, o, p) for s, e, o, p in data["maps"])
    physical = [pc for pc, kind in data["bt"] if kind in (data["normal"], data["sigtramp"])]
    return Sample(regs, stack, data["sp"], modules), physical, data


@pytest.fixture
def cache_env(tmp_path, monkeypatch):
    monkeypatch.setenv("UNWIND_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.mark.parametrize("variant", VARIANTS)
def test_matches_gdb_backtrace(tmp_path, cache_env, variant):
    flags, args, *where = VARIANTS[variant]
    sample, physical, data = capture(tmp_path, flags, args, *where)
    trace = get_unwinder("dwarf").unwind(sample)
    assert list(trace.pcs) == physical
    assert trace.stop == StopReason.END  # _start's CIE marks the return address undefined
    assert len(physical) >= (10 if not where else 6)
    if where:
        return
    if args == " x":  # the frame interrupted by the signal is looked up at its pc, not pc - 1
        kinds = [kind for _, kind in data["bt"] if kind in (data["normal"], data["sigtramp"])]
        at = kinds.index(data["sigtramp"])
        assert trace.frames[at].is_return_address and not trace.frames[at + 1].is_return_address
    else:  # through qsort's callback: libc frames between cmp and level3
        libc = [f for f in trace.frames if sample.modules.find(f.pc).path.endswith("libc.so.6")]
        assert len(libc) >= 3


def test_frame0_without_an_fde_takes_the_code_analysis(tmp_path, cache_env):
    """crti's _fini (`sub $8,%rsp; add $8,%rsp; ret`) has no FDE. A sample after its `sub` goes on through
    the fp unwinder's exact frame-0 analysis, then CFI to _start (libunwind and libdw guess there;
    gdb 13 gives up with a zero pc, so the expectation is the stack itself)."""
    sample, _, _ = capture(tmp_path, ["-O2", "-fomit-frame-pointer"], "", "*_fini+4")
    return_address = int.from_bytes(sample.stack[8:16], "little")
    pure = get_unwinder("dwarf", frame0=False).unwind(sample)
    assert pure.stop == StopReason.NO_UNWIND_INFO and len(pure.frames) == 1
    trace = get_unwinder("dwarf").unwind(sample)
    assert trace.frames[1].pc == return_address and trace.frames[1].via == Via.FP
    assert sample.modules.find(return_address).path.endswith(("ld-linux-x86-64.so.2", "libc.so.6"))
    assert trace.stop == StopReason.END and len(trace.frames) >= 4
    assert all(f.via == Via.CFI for f in trace.frames[2:])
    # The analysis persists beside the module's CFI table: the next run needs no disassembler.
    assert list((cache_env / "cfi").glob("*.frame0-*"))
    again = get_unwinder("dwarf")
    assert again.unwind(sample).pcs == trace.pcs and again._fp is None


def test_musl_sigreturn_trampoline_without_cfi(tmp_path, cache_env):
    """musl's __restore_rt has no FDE: recognised by its `mov $15,%rax; syscall` bytes, like gdb does."""
    src = tmp_path / "prog.c"
    src.write_text(PROGRAM)
    exe = tmp_path / "prog"
    subprocess.run([need_tool("musl-gcc"), "-O2", "-fomit-frame-pointer", "-static", "-o", str(exe), str(src)],
                   check=True)
    script = tmp_path / "cap.py"
    script.write_text(GDB_SCRIPT)
    out = str(tmp_path / "cap")
    subprocess.run([need_tool("gdb"), "-q", "-batch", "-nx", "-ex",
                    f"python OUT={out!r}; ARGS=' x'; BREAK='leaf'; THEN=None",
                    "-x", str(script), str(exe)], check=True, capture_output=True)
    with open(out + ".json") as fh:
        data = json.load(fh)
    with open(out + ".stack", "rb") as fh:
        stack = fh.read()
    names = {r.name.lower(): r for r in Reg}
    sample = Sample(Registers({names[k]: v for k, v in data["regs"].items()}), stack, data["sp"],
                    ModuleMap(Mapping(s, e, o, p) for s, e, o, p in data["maps"]))
    kinds = [kind for _, kind in data["bt"]]
    at = kinds.index(data["sigtramp"])
    trace = get_unwinder("dwarf", frame0=False).unwind(sample)
    # CFI alone: through the signal, then musl's raise() has no FDE
    assert list(trace.pcs[:at + 2]) == [pc for pc, _ in data["bt"][:at + 2]]
    assert not trace.frames[at + 1].is_return_address
    assert trace.stop == StopReason.NO_UNWIND_INFO and len(trace.frames) == at + 2
    # By default the interrupted raise() gets the frame-0 code analysis (via=fp), as gdb guesses from
    # its prologue: one more frame, the same as gdb's, then the caller has no FDE either.
    analysed = get_unwinder("dwarf").unwind(sample)
    assert list(analysed.pcs[:at + 3]) == [pc for pc, _ in data["bt"][:at + 3]]
    assert analysed.frames[at + 2].via == Via.FP and analysed.stop == StopReason.NO_UNWIND_INFO


VDSO_PROGRAM = r"""
#include <stdio.h>
#include <time.h>
__attribute__((noinline)) long work(void) {
    struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts); return ts.tv_nsec; }
__attribute__((noinline)) long outer(void) { return work() + 1; }
int main(void) { printf("%ld\n", outer()); return 0; }
"""


def test_frame_zero_in_the_vdso(tmp_path, cache_env):
    """[vdso] has no file: its image comes from perf's build-id cache or this process (same kernel)."""
    sample, physical, data = capture(tmp_path, ["-O2", "-fomit-frame-pointer"], "", "work",
                                     "__vdso_clock_gettime", VDSO_PROGRAM)
    assert sample.modules.find(sample.registers.pc).path == "[vdso]"
    trace = get_unwinder("dwarf").unwind(sample)
    assert list(trace.pcs) == physical and trace.stop == StopReason.END


def test_stop_reasons_on_cut_snapshots(tmp_path, cache_env):
    sample, physical, _ = capture(tmp_path, ["-O2", "-fomit-frame-pointer"], "")
    unwinder = get_unwinder("dwarf")
    cut = Sample(sample.registers, sample.stack[:64], sample.stack_base, sample.modules)
    trace = unwinder.unwind(cut)
    assert trace.stop == StopReason.BAD_MEMORY and list(trace.pcs) == physical[:len(trace.pcs)]
    no_maps = Sample(sample.registers, sample.stack, sample.stack_base, ModuleMap())
    trace = unwinder.unwind(no_maps)
    assert trace.stop == StopReason.NO_UNWIND_INFO and len(trace.frames) == 1


def test_compiled_tables_persist_and_rebuild(cache_env):
    elf = ElfFile(LIBC)
    first = CfiCache(lazy_limit=0)
    table = first.get(elf)
    assert first.compiles == 1
    path = Path(cache_dir()) / "cfi" / f"{elf.build_id.hex()}-e.cfi"
    assert path.is_file()
    second = CfiCache(lazy_limit=0)
    loaded = second.get(elf)
    assert second.loads == 1 and second.compiles == 0
    assert list(loaded.starts) == list(table.starts) and loaded.keys == table.keys
    assert second.get(elf) is loaded and second.hits == 1
    path.write_bytes(b"not marshal data")  # corrupt: rebuilt
    third = CfiCache(lazy_limit=0)
    third.get(elf)
    assert third.compiles == 1 and path.stat().st_size > 1000
    import marshal
    state = marshal.loads(path.read_bytes())
    state["version"] = FORMAT_VERSION - 1  # stale format: rebuilt
    path.write_bytes(marshal.dumps(state))
    fourth = CfiCache(lazy_limit=0)
    fourth.get(elf)
    assert fourth.compiles == 1
    path.write_bytes(path.read_bytes()[:500])  # truncated: rebuilt
    fifth = CfiCache(lazy_limit=0)
    assert list(fifth.get(elf).starts) == list(table.starts) and fifth.compiles == 1


def test_compiled_rules_agree_with_readelf_rows(cache_env):
    """Every row of a sample of libc FDEs: the compiled rule's CFA is readelf's CFA column."""
    import re


    text = subprocess.run([need_tool("readelf"), "--debug-dump=frames-interp", str(LIBC)],
                          capture_output=True, text=True).stdout
    table = CfiCache(lazy_limit=0).get(ElfFile(LIBC))
    checked = 0
    for line in text.splitlines()[::37]:
        m = re.match(r"^([0-9a-f]{16}) (rsp|rbp)\+(\d+)\s", line)
        if not m or int(m.group(1), 16) == 0:
            continue
        rule = table.rule_at(int(m.group(1), 16))
        assert rule is not None
        assert (rule.cfa.reg, rule.cfa.offset) == ({"rsp": 7, "rbp": 6}[m.group(2)], int(m.group(3)))
        checked += 1
    assert checked > 100


def test_lazy_tables_agree_with_compiled_and_then_compile(cache_env):
    """A table that cannot persist starts through .eh_frame_hdr, FDE by FDE, with the same rules as
    the whole compiled table; after `lazy_limit` FDEs the module is compiled whole."""
    elf = ElfFile(LIBC)
    compiled = CfiCache(persist=False, lazy_limit=0).get(elf)
    cache = CfiCache(persist=False, lazy_limit=40)
    lazy = cache.get(elf)
    assert cache.lazy == 1 and cache.compiles == 0
    addresses = [a for start, end in zip(compiled.starts[::50], compiled.ends[::50])
                 for a in (start, (start + end) // 2, end - 1)]
    addresses += [compiled.starts[0] - 1, compiled.ends[-1] + 16]
    for address in addresses:
        assert lazy.rule_at(address) == compiled.rule_at(address), hex(address)
    assert cache.get(elf) is not lazy and cache.compiles == 1
    assert not (Path(cache_dir()) / "cfi").exists()


def test_persistable_tables_compile_whole_once_then_load(cache_env):
    """With a build-id the first use compiles and saves the whole table; a new process only loads it."""
    elf = ElfFile(LIBC)
    first = CfiCache()
    first.get(elf)
    assert (first.lazy, first.compiles) == (0, 1)
    assert (Path(cache_dir()) / "cfi" / f"{elf.build_id.hex()}-e.cfi").is_file()
    second = CfiCache()
    second.get(elf)
    assert (second.lazy, second.compiles, second.loads) == (0, 0, 1)



@pytest.fixture(scope="module")
def live_sample(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("live")
    sample, physical, _ = capture(tmp, ["-O2", "-fomit-frame-pointer"], "")
    return sample, physical


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_stacks_and_registers_terminate_typed(live_sample, data):
    """Corrupted snapshots of a real process: the walk always ends with a stop reason, never raises."""
    sample, physical = live_sample
    stack = bytearray(sample.stack)
    for _ in range(data.draw(st.integers(1, 12))):
        at = data.draw(st.integers(0, len(stack) // 8 - 1)) * 8
        word = data.draw(st.one_of(st.integers(0, 2**64 - 1),
                                   st.sampled_from(physical).map(lambda pc: pc + data.draw(st.integers(-8, 8))),
                                   st.integers(0, 512).map(lambda k: sample.stack_base + 8 * k)))
        stack[at:at + 8] = (word % 2**64).to_bytes(8, "little")
    values = dict(sample.registers.values)
    for reg in data.draw(st.lists(st.integers(0, 16), max_size=3)):
        values[reg] = data.draw(st.integers(0, 2**64 - 1))
    mutated = Sample(Registers(values), bytes(stack), sample.stack_base, sample.modules)
    trace = get_unwinder("dwarf", max_depth=64).unwind(mutated)
    assert_consistent(trace, mutated, 64, tables_only=True)


def _frames(trace):
    return [(f.pc, f.sp, f.cfa, f.via, f.is_return_address) for f in trace.frames], trace.stop


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_remembered_walk_suffixes_never_change_a_trace(live_sample, data):
    """An unwinder that reuses the rest of earlier walks gives exactly what a fresh unwinder gives, for
    snapshots that share outer frames with earlier ones and for those changed where a rest was read."""
    sample, physical = live_sample
    depth = data.draw(st.sampled_from([3, 5, 64]))
    shared = get_unwinder("dwarf", max_depth=depth)
    first = shared.unwind(sample)
    assert _frames(first) == _frames(get_unwinder("dwarf", max_depth=depth).unwind(sample))
    if depth == 64:  # the same snapshot again: the outer frames are taken, not walked
        assert shared.unwind(sample).frames[-1] is first.frames[-1]
    for _ in range(data.draw(st.integers(1, 4))):
        stack = bytearray(sample.stack)
        for _ in range(data.draw(st.integers(0, 4))):
            at = data.draw(st.integers(0, min(len(stack), 1024) // 8 - 1)) * 8
            word = data.draw(st.one_of(st.integers(0, 2**64 - 1), st.sampled_from(physical),
                                       st.integers(0, 128).map(lambda k: sample.stack_base + 8 * k)))
            stack[at:at + 8] = word.to_bytes(8, "little")
        values = dict(sample.registers.values)
        for reg in data.draw(st.lists(st.sampled_from([3, 6, 12, 13, 14, 15]), max_size=2)):
            values[reg] = data.draw(st.integers(0, 2**64 - 1))
        variant = Sample(Registers(values), bytes(stack), sample.stack_base, sample.modules)
        fresh = get_unwinder("dwarf", max_depth=depth).unwind(variant)
        assert _frames(shared.unwind(variant)) == _frames(fresh)


def test_debug_file_and_binary_do_not_share_a_table(cache_env):
    """libc and its build-id debug file (.eh_frame NOBITS) have one build-id but different CFI."""
    from unwind.modules import find_debug_file

    elf = ElfFile(LIBC)
    debug = ElfFile(find_debug_file(elf))
    assert debug.build_id == elf.build_id
    cache = CfiCache(lazy_limit=0)
    assert len(cache.get(debug)) == 0
    assert len(cache.get(elf)) > 3000


_LIBC_EH: list = []


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 8191), st.integers(0, 255)), min_size=1, max_size=8),
       st.lists(st.integers(0, 0x30000), min_size=1, max_size=20))
def test_compiling_mutated_cfi_never_raises(flips, addresses):
    """Corrupt .eh_frame bytes: compile_sections keeps what it can (bad FDEs -> bad-rule), lookups never raise."""
    from formats.cfi.parse import CfiSection
    from unwind.cfi_tables import compile_sections

    if not _LIBC_EH:
        elf = ElfFile(LIBC)
        section = elf.section(".eh_frame")
        _LIBC_EH.append((elf.section_bytes(section)[:8192], section.addr))
    data, address = _LIBC_EH[0]
    data = bytearray(data)
    for at, value in flips:
        data[at] = value
    table = compile_sections([CfiSection(bytes(data), address, path="mutated")])
    for vaddr in addresses:
        rule = table.rule_at(0x26000 + vaddr)
        assert rule is None or rule.cfa is not None
