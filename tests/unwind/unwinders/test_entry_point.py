"""A thread stopped at its program's entry point (_start's first instruction, where the dynamic loader
jumped with no return address pushed: [rsp] is argc) is one frame deep for every unwinder, as gdb has it.

glibc's _start marks rip undefined only after its endbr64, so the CFI's initial rule at the entry point
reads argc as a return address: a perf recording of node taken right after ld.so handed over showed
`_start` followed by a frame at 0x7 (node had 6 arguments).
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from conftest import cores_helpers, need_tool

from formats.elf import ElfFile
from unwind.core import load_core
from unwind.model import StopReason
from unwind.modules import is_program_entry, root_ranges
from unwind.unwinders import get_unwinder


@pytest.mark.parametrize("name", ["fp", "nofp", "nocfi"])
def test_a_thread_at_the_entry_point_is_its_outermost_frame(built, tmp_path, name):
    helpers = cores_helpers()
    exe = built / name
    core, threads, tid = helpers.stop_at(exe, "_start", tmp_path, "entry")
    assert [n for _, _, n in threads[tid]] == ["_start"]  # gdb: one frame (backtrace past-entry off)
    process = load_core(str(core))
    sample = next(s for s in process.samples if s.tid == tid)
    module = process.resolver.module_for(process.modules.find(sample.registers.pc))
    assert module.to_vaddr(sample.registers.pc) == ElfFile(exe).entry
    for unwinder in ("dwarf", "fp", "auto"):
        trace = get_unwinder(unwinder, resolver=process.resolver).unwind(sample, process.memory_for(sample))
        assert [f.pc for f in trace.frames] == [sample.registers.pc], unwinder
        assert trace.stop is StopReason.END, unwinder


def test_only_programs_have_an_entry_point_that_ends_a_walk(built, tmp_path):
    """A shared library's e_entry is not entered by exec: mold sets it to .text's start, a called function."""
    exe = ElfFile(built / "fp")
    assert is_program_entry(exe, exe.entry) and not is_program_entry(exe, exe.entry + 1)
    libc = ElfFile("/usr/lib/x86_64-linux-gnu/libc.so.6")  # runs as a program too (PT_INTERP)
    assert is_program_entry(libc, libc.entry)
    source = tmp_path / "lib.c"
    source.write_text("int f(int x) { return x + 1; }\n")
    if shutil.which("mold") is None:
        pytest.skip("mold is not installed")
    lib = tmp_path / "lib.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-fuse-ld=mold", str(source), "-o", str(lib)], check=True)
    elf = ElfFile(lib)
    assert elf.entry != 0 and not is_program_entry(elf, elf.entry)


def test_go_roots_are_the_functions_gos_traceback_ends_at(tmp_path):
    """In a Go binary (Go's internal linker), rt0_go is a root wherever it is, and the g0 switches
    (systemstack, mcall, morestack, asmcgocall) once they are callers: at the addresses `go tool nm` gives."""
    go = need_tool("go")
    source = tmp_path / "main.go"
    source.write_text('package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hi") }\n')
    exe = tmp_path / "hello"
    env = dict(os.environ, PATH="/usr/bin:/bin:" + os.environ.get("PATH", ""), GOCACHE=str(tmp_path / "cache"),
               GOPATH=str(tmp_path / "gopath"), GOPROXY="off", GO111MODULE="off")
    subprocess.run([go, "build", "-o", str(exe), str(source)], check=True, capture_output=True, env=env)
    nm = subprocess.run([go, "tool", "nm", "-size", str(exe)], check=True, capture_output=True, text=True, env=env)
    sizes = {}
    for line in nm.stdout.splitlines():
        address, size, kind, name = line.split(maxsplit=3)
        if kind == "T":
            sizes[name] = (int(address, 16), int(size))
    roots = {(r.low, r.high, r.as_caller) for r in root_ranges(ElfFile(exe))}
    want = {("runtime.rt0_go.abi0", False), ("runtime.systemstack.abi0", True), ("runtime.mcall", True),
            ("runtime.morestack.abi0", True), ("runtime.asmcgocall.abi0", True)}
    assert roots == {(sizes[n][0], sizes[n][0] + sizes[n][1], caller) for n, caller in want}
    assert root_ranges(ElfFile(shutil.which("true") or "/bin/true")) == ()
