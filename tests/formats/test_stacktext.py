"""Stack text inputs: real bpftrace recordings (default and perf modes), BCC folded, address and build-id lines."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from conftest import need_tool
from formats.errors import FormatError
from formats.kallsyms import load_kallsyms
from formats.stacktext import (RawFrame, RawStack, detect_format, parse_address_lines, parse_bcc_folded,
                               parse_bpftrace, parse_stacks)

PROGRAM = r"""
#include <unistd.h>
volatile long sink;
__attribute__((noinline)) void leaf(void) { for (int i = 0; i < 1000; i++) sink += i; sink += getppid(); }
__attribute__((noinline)) void middle(void) { leaf(); }
int main(void) { for (long n = 0; n < 400000000; n++) middle(); return 0; }
"""


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    """A running process spending its time in leaf() and in the getppid syscall."""
    tmp = tmp_path_factory.mktemp("bpftrace")
    (tmp / "spin.c").write_text(PROGRAM)
    exe = tmp / "spin"
    subprocess.run([need_tool("gcc"), "-O1", "-fno-omit-frame-pointer", "-o", exe, tmp / "spin.c"], check=True)
    process = subprocess.Popen([exe])
    time.sleep(0.1)
    maps = Path(f"/proc/{process.pid}/maps").read_text()
    yield process, exe, maps
    process.kill()
    process.wait()


def bpftrace(pid: int, key: str, min_samples: int = 300) -> str:
    """bpftrace's map of `key` over the target's samples. On a loaded machine the target may run on a
    fraction of a CPU: the window grows (1, 3, 8 s) until it holds `min_samples` samples."""
    for seconds in (1, 3, 8):
        program = f"profile:hz:499 /pid == {pid}/ {{ @[{key}] = count(); }} interval:s:{seconds} {{ exit(); }}"
        result = subprocess.run([need_tool("bpftrace"), "-e", program], capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            pytest.fail(f"bpftrace failed: {result.stderr.strip()}")
        if sum(int(n) for n in re.findall(r"\]: (\d+)$", result.stdout, re.M)) >= min_samples:
            break
    return result.stdout


def nm_symbols(exe: Path) -> dict[str, int]:
    out = subprocess.run([need_tool("nm"), exe], check=True, capture_output=True, text=True).stdout
    return {m[2]: int(m[1], 16) for m in re.finditer(r"^([0-9a-f]+) [tT] (\S+)$", out, re.M)}


def test_bpftrace_perf_mode(target):
    process, exe, maps = target
    text = bpftrace(process.pid, "ustack(perf), kstack(perf)")
    assert detect_format(text) == "bpftrace"
    stacks = parse_stacks(text)
    assert sum(s.count for s in stacks) > 50
    # Every user frame in our executable: address - load base == nm address of the symbol + offset.
    base = min(int(line.split("-")[0], 16) - int(line.split()[2], 16)
               for line in maps.splitlines() if line.endswith(str(exe)))
    symbols = nm_symbols(exe)
    checked = 0
    for stack in stacks:
        for frame in stack.frames:
            if frame.module == str(exe) and frame.symbol_text:
                name, offset = frame.symbol_text.rsplit("+", 1)
                assert frame.address - base == symbols[name] + int(offset)
                assert not frame.kernel
                checked += 1
    assert checked > 10
    # Kernel frames: kallsyms gives the same symbol (or an alias at the same address) and offset as bpftrace.
    table = load_kallsyms("/proc/kallsyms", types=None)
    kernel = [f for s in stacks for f in s.frames if f.kernel]
    assert kernel, "the getppid loop puts kernel frames into kstack"
    listing = Path("/proc/kallsyms").read_text()
    for frame in kernel:
        name, offset = frame.symbol_text.rsplit("+", 1)
        ours = table.lookup(frame.address)
        assert ours.offset == int(offset)
        start = frame.address - ours.offset
        assert ours.name == name or re.search(rf"^{start:016x} \w {re.escape(name)}$", listing, re.M)
    # Kernel part comes first, leaf first.
    mixed = [s for s in stacks if any(f.kernel for f in s.frames) and any(not f.kernel for f in s.frames)]
    assert all(s.frames[0].kernel and not s.frames[-1].kernel for s in mixed)


def test_bpftrace_default_mode_with_owner(target):
    process, exe, _ = target
    text = bpftrace(process.pid, "comm, pid, tid, ustack, kstack")
    stacks = parse_bpftrace(text)
    assert stacks and sum(s.count for s in stacks) > 50
    assert {(s.comm, s.pid, s.tid) for s in stacks} == {(exe.name, process.pid, process.pid)}
    user_names = {f.symbol_text.rsplit("+", 1)[0] for s in stacks for f in s.frames if not f.kernel and f.symbol_text}
    assert {"leaf", "middle", "main"} <= user_names
    kernel_names = {f.symbol_text.rsplit("+", 1)[0] for s in stacks for f in s.frames if f.kernel}
    assert kernel_names and not kernel_names & {"leaf", "middle", "main"}


def test_raw_and_build_id_modes_as_bpftrace_prints_them():
    # Shapes from bpftrace's get_stack (raw: "%x\n") and format_build_id_stack ("<40 hex> 0x<offset>" or "%x").
    text = (
        "Attaching 1 probe...\n\n\n@[\n55f5ac21614a\n7f28adf6424a\n, \nffffffff81000130\n]: 7\n"
        "@[\n" + "ab" * 20 + " 0x114a\n7f28adf6424a\n]: 2\n@[x]: 5\n"
    )
    raw, build = parse_bpftrace(text)
    assert raw == RawStack(None, None, None, 7, (
        RawFrame(address=0xFFFFFFFF81000130, kernel=True),
        RawFrame(address=0x55F5AC21614A), RawFrame(address=0x7F28ADF6424A)))
    assert build.frames == (RawFrame(build_id="ab" * 20, file_offset=0x114A), RawFrame(address=0x7F28ADF6424A))


def test_bcc_folded():
    text = "spin;main;middle;leaf;-;entry_SYSCALL_64;do_syscall_64 12\nspin;[unknown];leaf 3\npy;a;b_[k] 1\n"
    assert detect_format(text) == "folded"
    first, second, third = parse_bcc_folded(text)
    assert (first.comm, first.count) == ("spin", 12)
    assert [(f.symbol_text, f.kernel) for f in first.frames] == [
        ("do_syscall_64", True), ("entry_SYSCALL_64", True), ("leaf", False), ("middle", False), ("main", False)]
    assert [f.symbol_text for f in second.frames] == ["leaf", "[unknown]"]
    assert [(f.symbol_text, f.kernel) for f in third.frames] == [("b", True), ("a", False)]


def test_address_and_build_id_lines():
    text = "# leaf first\n0x401000 0x401234,0x7f0000001000\n[ffffffff81000000, 401000]\n" + "ab" * 20 + "+0x114a 0x10\n"
    assert detect_format(text) == "addresses"
    one, two, three = parse_address_lines(text)
    assert [f.address for f in one.frames] == [0x401000, 0x401234, 0x7F0000001000]
    assert two.frames[0].kernel and not two.frames[1].kernel
    assert three.frames[0] == RawFrame(build_id="ab" * 20, file_offset=0x114A)


def test_bad_input():
    for bad in ("@[\n    leaf+1\n", "0x12 zz\n", "x" * 20 + "0 1\n"):
        with pytest.raises(FormatError):
            parse_stacks(bad)
    with pytest.raises(FormatError):
        parse_bcc_folded("a;b c\n")


@settings(max_examples=400, deadline=None)
@given(st.text(st.sampled_from("@[]:,; \t\n0123456789abcdefx+_-k"), max_size=200) | st.text(max_size=200))
def test_random_text_only_raises_format_error(text):
    for parse in (parse_stacks, parse_bpftrace, parse_bcc_folded, parse_address_lines):
        try:
            parse(text)
        except FormatError:
            pass
