"""`unwind symbolize` prints exactly what llvm-symbolizer prints, flag for flag."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import LIBC, need_tool
from llvm_peer import cache_env, objdump_addresses, run

UNWIND = [sys.executable, "-m", "unwind"]

C_SOURCE = r"""
#include <stdio.h>
#include <stdlib.h>
static inline __attribute__((always_inline)) int leaf(int x) { return x * 3 + 1; }
static inline __attribute__((always_inline)) int middle(int x) { return leaf(x) ^ leaf(x + 7); }
__attribute__((noinline)) int outer(int x) { int s = 0; for (int i = 0; i < x; i++) s += middle(i); return s; }
static int compare(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }
int main(int argc, char **argv) {
    int v[4] = {3, 1, 2, argc};
    qsort(v, 4, sizeof v[0], compare);
    printf("%d\n", outer(argc + 10) + v[0]);
    return 0;
}
"""

CXX_SOURCE = r"""
#include <vector>
#include <string>
#include <map>
namespace ns { template <typename T> struct Box { T value; __attribute__((noinline)) T get() const { return value; } }; }
__attribute__((noinline)) int sum(const std::vector<int>& v) { int s = 0; for (int x : v) s += x; return s; }
int main() {
    std::map<std::string, std::vector<int>> m;
    m["a"] = {1, 2, 3};
    ns::Box<std::vector<int>> b{m["a"]};
    auto f = [&](int k) { return sum(b.get()) + k; };
    return f(1) == 7 ? 0 : 1;
}
"""


@pytest.fixture(scope="module")
def programs(tmp_path_factory) -> dict[str, Path]:
    need_tool("gcc")
    root = tmp_path_factory.mktemp("symbolize")
    (root / "prog.c").write_text(C_SOURCE)
    (root / "prog.cc").write_text(CXX_SOURCE)
    built = {}
    for name, cmd in {
        "c-dwarf5": ["gcc", "-O2", "-g", "-gdwarf-5", "prog.c", "-o", "c5"],
        "c-dwarf4": ["gcc", "-O2", "-g", "-gdwarf-4", "-fno-omit-frame-pointer", "prog.c", "-o", "c4"],
        "c-zlib": ["gcc", "-O1", "-g", "-gz=zlib", "prog.c", "-o", "cz"],
        "cxx": ["g++", "-O2", "-g", "prog.cc", "-o", "cxx"],
    }.items():
        subprocess.run(cmd, cwd=root, check=True)
        built[name] = root / cmd[-1]
    return built


def instruction_addresses(binary: Path, every: int = 3) -> list[str]:
    return objdump_addresses(binary, every) + ["0x0", "0xffffffffff"]


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict:
    return cache_env(tmp_path_factory.mktemp("cache"))


FLAG_SETS = [
    [],
    ["--output-style=GNU"],
    ["--output-style=JSON"],
    ["-a", "-p"],
    ["--output-style=GNU", "-a", "-p", "-s"],
    ["--no-inlines"],
    ["--no-inlines", "--output-style=JSON"],
    ["-f", "--addresses", "--basenames"],
    ["--functions=none"],
    ["--verbose"],
]


@pytest.mark.parametrize("flags", FLAG_SETS, ids=lambda f: " ".join(f) or "default")
@pytest.mark.parametrize("program", ["c-dwarf5", "c-dwarf4", "c-zlib", "cxx"])
def test_same_output_as_llvm_symbolizer(programs, env, program, flags):
    need_tool("llvm-symbolizer")
    binary = programs[program]
    stdin = "\n".join(instruction_addresses(binary)) + "\n"
    theirs = run(["llvm-symbolizer", f"--obj={binary}", *flags], stdin)
    ours = run([*UNWIND, "symbolize", f"--obj={binary}", *flags], stdin, env)
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == theirs.stdout


def test_addresses_on_the_command_line_and_no_demangle(programs, env):
    binary = programs["cxx"]
    addresses = instruction_addresses(binary, every=17)
    for flags in ([], ["--no-demangle"], ["--output-style=JSON"]):
        theirs = run(["llvm-symbolizer", f"--obj={binary}", *flags, *addresses])
        ours = run([*UNWIND, "symbolize", f"--obj={binary}", *flags, *addresses], env=env)
        assert ours.stdout == theirs.stdout


def test_stdin_with_file_per_line_and_unparsable_lines(programs, env):
    binary = programs["c-dwarf5"]
    stdin = f"{binary} 0x1139\nCODE {binary} 0x1150\nnot-an-address\n{binary} zz\n0x1139\n"
    theirs = run(["llvm-symbolizer"], stdin)
    ours = run([*UNWIND, "symbolize"], stdin, env)
    assert ours.stdout == theirs.stdout


def test_libc_through_its_build_id_debug_file(env):
    addresses = ["0x29d90", "0x8ab00", "0x1", "0x10"]
    for flags in ([], ["--output-style=JSON"]):
        theirs = run(["llvm-symbolizer", f"--obj={LIBC}", *flags, *addresses])
        ours = run([*UNWIND, "symbolize", f"--obj={LIBC}", *flags, *addresses], env=env)
        assert ours.stdout == theirs.stdout


@pytest.mark.parametrize("style", ["LLVM", "JSON"])
def test_missing_and_non_elf_files(tmp_path, env, style):
    not_elf = tmp_path / "notes.txt"
    not_elf.write_text("hello\n")
    for obj in (tmp_path / "missing", not_elf):
        theirs = run(["llvm-symbolizer", f"--obj={obj}", f"--output-style={style}", "0x10"])
        ours = run([*UNWIND, "symbolize", f"--obj={obj}", f"--output-style={style}", "0x10"], env=env)
        assert ours.returncode == 0
        assert ours.stdout == theirs.stdout
        assert "Traceback" not in ours.stderr


def test_truncated_elf_is_one_line_naming_the_file(programs, tmp_path, env):
    data = programs["c-dwarf5"].read_bytes()
    for cut in (10, 70, len(data) // 2):
        truncated = tmp_path / f"cut{cut}"
        truncated.write_bytes(data[:cut])
        ours = run([*UNWIND, "symbolize", f"--obj={truncated}", "0x1139"], env=env)
        assert "Traceback" not in ours.stderr
        assert ours.stdout.startswith("??\n")


@pytest.mark.parametrize("section", [".debug_line", ".debug_info", ".debug_abbrev", ".debug_str"])
def test_garbage_debug_sections_answer_every_address(programs, tmp_path, env, section):
    # llvm-symbolizer 14 segfaults on some of these; we warn once and answer from what is left.
    binary = programs["c-dwarf5"]
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(bytes((i * 37 + 11) % 256 for i in range(4096)))
    broken, stripped = tmp_path / "broken", tmp_path / "stripped"
    subprocess.run(["objcopy", f"--update-section={section}={garbage}", str(binary), str(broken)], check=True,
                   capture_output=True)
    subprocess.run(["objcopy", "--strip-debug", str(binary), str(stripped)], check=True)
    addresses = instruction_addresses(binary, every=9)
    stdin = "\n".join(addresses) + "\n"
    ours = run([*UNWIND, "symbolize", f"--obj={broken}"], stdin, env)
    assert ours.returncode == 0
    assert "Traceback" not in ours.stderr
    assert all(line.startswith("unwind symbolize: warning: ") for line in ours.stderr.splitlines())
    blocks = ours.stdout.rstrip("\n").split("\n\n")
    assert len(blocks) == len(addresses)
    # The outermost name of every answer is the symbol table's, as llvm-symbolizer gives on the stripped file.
    symtab_only = run(["llvm-symbolizer", f"--obj={stripped}"], stdin).stdout.rstrip("\n").split("\n\n")
    assert [b.split("\n")[-2] for b in blocks] == [b.split("\n")[0] for b in symtab_only]


def test_missing_debug_file_falls_back_to_symbols(tmp_path, env):
    # libc.so.6 names its debug file by build-id and debuglink; with no debug dir, only .dynsym remains.
    theirs = run(["llvm-symbolizer", f"--obj={LIBC}", "--debug-file-directory=/nonexistent", "0x8ab00", "0x29d90"])
    ours = run([*UNWIND, "symbolize", f"--obj={LIBC}", "--debug-file-directory=/nonexistent", "0x8ab00", "0x29d90"],
               env=env)
    assert ours.stdout == theirs.stdout


def test_answers_each_line_while_stdin_stays_open(programs, env):
    """A driver that writes one address and waits (as profilers drive llvm-symbolizer) gets its answer."""
    binary = programs["c-dwarf5"]
    address = instruction_addresses(binary, every=5)[3]
    expected = run(["llvm-symbolizer", f"--obj={binary}", address]).stdout
    proc = subprocess.Popen([*UNWIND, "symbolize", f"--obj={binary}"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        for _ in range(2):
            proc.stdin.write(address + "\n")
            proc.stdin.flush()
            lines = []
            while not lines or lines[-1] != "\n":
                lines.append(proc.stdout.readline())
            assert "".join(lines) == expected
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
