"""The emulated process behaves like a native run: same stdout, stderr and exit status; unknown syscalls are
reported."""

from __future__ import annotations

import subprocess

import pytest

from conftest import ROOT
from unwind.errors import UsageError
from unwind.sim.machine import Process

BIN = ROOT / "corpus" / "bin"
PROGRAMS = [
    ("recursion-glibc-static-O2-nofp", ["20"]),
    ("recursion-musl-dynamic-O0-fp", ["20"]),
    ("frames-glibc-dynamic-O2-fp", ["40"]),
    ("frames-musl-static-O2-nofp", ["40"]),
    ("libcalls-glibc-dynamic-O0-nofp", ["2"]),
    ("libcalls-musl-static-O2-fp", ["2"]),
    ("nonlocal-glibc-static-O0-fp", ["12"]),
    ("nonlocal-glibc-dynamic-O2-nofp", ["12"]),
    ("nonlocal-musl-dynamic-O2-fp", ["12"]),
    ("exceptions-glibc-dynamic-O2-fp", ["6"]),
    ("exceptions-glibc-static-O0-fp", ["4"]),
    ("sysprobe-glibc-dynamic-O2-fp", []),
    ("sysprobe-glibc-static-O2-nofp", []),
    ("sysprobe-musl-static-O0-fp", []),
    ("siginfo-glibc-dynamic-O2-fp", []),
    ("siginfo-glibc-static-O0-fp", []),
    ("siginfo-musl-static-O2-nofp", []),
    ("siginfo-musl-dynamic-O0-nofp", []),
    ("threads-glibc-dynamic-O2-nofp", ["4"]),
    ("threads-glibc-static-O0-fp", ["2"]),
    ("threads-musl-static-O2-fp", ["3"]),
    ("threads-musl-dynamic-O0-nofp", ["2"]),
]


@pytest.mark.parametrize("name,args", PROGRAMS)
def test_output_and_status_equal_native(name, args):
    binary = str(BIN / name)
    native = subprocess.run([binary, *args], capture_output=True)
    proc = Process(binary, args)
    report = proc.run()
    assert report.fault is None
    assert proc.stdout() == native.stdout
    assert bytes(proc.output[2]) == native.stderr
    if native.returncode < 0:  # killed by a signal: the simulator reports it as a shell would, 128 + signo
        assert (report.signal, report.exit_code) == (-native.returncode, 128 - native.returncode)
    else:
        assert (report.signal, report.exit_code) == (None, native.returncode)


@pytest.mark.parametrize("name", ["sysprobe-glibc-dynamic-O2-fp", "sysprobe-glibc-static-O2-nofp",
                                  "sysprobe-musl-dynamic-O0-fp"])
def test_runs_with_the_host_vdso_mapped(name):
    binary = str(BIN / name)
    proc = Process(binary, vdso=True)
    assert proc.run().exit_code == 3
    assert proc.stdout() == subprocess.run([binary], capture_output=True).stdout
    assert any(v.path == "[vdso]" for v in proc.space.vmas)


def test_unsupported_syscall_is_reported_not_silent():
    proc = Process(str(BIN / "sysprobe-glibc-static-O2-nofp"))
    report = proc.run()
    assert report.unsupported == {"syscall 999": 1}
    assert b"syscall999=-1 errno=38\n" in proc.stdout()


def test_files_the_dynamic_loader_opens_are_recorded():
    proc = Process(str(BIN / "recursion-glibc-dynamic-O2-fp"), ["1"])
    proc.run()
    libc = subprocess.run(["ldd", str(BIN / "recursion-glibc-dynamic-O2-fp")], capture_output=True, text=True).stdout
    libc_path = next(line.split("=>")[1].split()[0] for line in libc.splitlines() if "libc.so.6" in line)
    import os
    assert os.path.realpath(libc_path) in proc.opened
    maps = {m.path for m in proc.space.module_map() if m.path}
    assert os.path.realpath(libc_path) in maps


def test_missing_binary_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError):
        Process(str(tmp_path / "nope"))


def test_not_an_elf_is_a_typed_error(tmp_path):
    bogus = tmp_path / "bogus"
    bogus.write_bytes(b"#!/bin/sh\necho hi\n")
    from formats.errors import UnwindError
    with pytest.raises(UnwindError):
        Process(str(bogus))


def test_dynamic_loader_and_libraries_come_from_the_sysroot(tmp_path):
    """A sysroot holding its own ld.so and libc (no ld.so.cache): the loader finds libc there by its default path."""
    import os
    import shutil

    binary = BIN / "recursion-glibc-dynamic-O2-nofp"
    interp = subprocess.run(["readelf", "-l", str(binary)], capture_output=True, text=True).stdout
    interp = interp.split("[Requesting program interpreter: ")[1].split("]")[0]
    for guest, host in ((interp, interp), ("/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6")):
        target = tmp_path / guest.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(os.path.realpath(host), target)
    proc = Process(str(binary), ["3"], sysroot=str(tmp_path))
    report = proc.run()
    assert report.exit_code == 0 and report.fault is None
    assert proc.stdout() == subprocess.run([str(binary), "3"], capture_output=True).stdout
    assert "/lib/x86_64-linux-gnu/libc.so.6" in proc.opened
    paths = {m.path for m in proc.space.module_map()}
    assert interp in paths and "/lib/x86_64-linux-gnu/libc.so.6" in paths
    assert not any(p and p.startswith(str(tmp_path)) for p in paths)


def _auxv_listing(text: str) -> list[tuple[str, str]]:
    rows = [line.split(":", 1) for line in text.splitlines() if line.startswith("AT_")]
    return [(k.strip(), v.strip()) for k, v in rows]


def test_initial_auxv_is_laid_out_as_the_kernel_does():
    """ld.so's LD_SHOW_AUXV prints the vector in stack order: same keys and order as a native exec, minus the vDSO."""
    native = _auxv_listing(subprocess.run(["/bin/true"], env={"LD_SHOW_AUXV": "1"}, capture_output=True,
                                          text=True).stdout)
    proc = Process("/bin/true", env=["LD_SHOW_AUXV=1"])
    proc.run()
    ours = _auxv_listing(proc.stdout().decode())
    skip = ("AT_SYSINFO_EHDR", "AT_???")  # no vDSO is mapped; rseq entries (kernel 6.3+) are not offered
    native = [(k, v) for k, v in native if not k.startswith(skip)]
    assert [k for k, _ in ours] == [k for k, _ in native]
    same = {"AT_PHENT", "AT_PHNUM", "AT_PAGESZ", "AT_CLKTCK", "AT_EXECFN", "AT_PLATFORM", "AT_FLAGS", "AT_SECURE"}
    assert {k: v for k, v in ours if k in same} == {k: v for k, v in native if k in same}


def test_host_programs_list_a_directory_and_run_a_shell():
    """Debian's own ls (getdents64, statx, strings near the stack top) and dash (environment) behave natively."""
    src = str(ROOT / "corpus" / "src")
    proc = Process("/bin/ls", ["-1", src])
    assert proc.run().exit_code == 0
    assert proc.stdout() == subprocess.run(["/bin/ls", "-1", src], capture_output=True).stdout
    proc = Process("/bin/sh", ["-c", "echo $GREETING; exit 7"], env=["GREETING=hello from dash"])
    assert proc.run().exit_code == 7
    assert proc.stdout() == b"hello from dash\n"
    text = b"b\na\nc\n"
    proc = Process("/usr/bin/sort", stdin=text)
    assert proc.run().exit_code == 0
    assert proc.stdout() == subprocess.run(["/usr/bin/sort"], input=text, capture_output=True).stdout
