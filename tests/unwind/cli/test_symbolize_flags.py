"""Every llvm-symbolizer 14 option and input convention: `unwind symbolize` parses and prints as llvm-symbolizer does.

Each case runs the real llvm-symbolizer 14 and us with the same argument vector (and stdin), and
compares stdout, stderr and the exit status byte for byte.  The programs are built here by gcc/g++.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import need_tool
from llvm_peer import cache_env, objdump_addresses, run

UNWIND = [sys.executable, "-m", "unwind", "symbolize"]

C_SOURCE = r"""
#include <stdio.h>
static inline __attribute__((always_inline)) int leaf(int x) { return x * 3 + 1; }
static inline __attribute__((always_inline)) int middle(int x) { return leaf(x) ^ leaf(x + 7); }
int table[16] = {1, 2, 3};
__attribute__((noinline)) int outer(int x) { int s = 0; for (int i = 0; i < x; i++) s += middle(i); return s; }
int main(int argc, char **argv) { printf("%d\n", outer(argc + 10) + table[argc]); return 0; }
"""

CXX_SOURCE = r"""
#include <map>
#include <string>
#include <vector>
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
def work(tmp_path_factory) -> Path:
    """A directory holding the sources (for --print-source-context-lines) and the programs `c` and `cxx`."""
    need_tool("gcc")
    root = tmp_path_factory.mktemp("flags")
    (root / "p.c").write_text(C_SOURCE)
    (root / "p.cc").write_text(CXX_SOURCE)
    subprocess.run(["gcc", "-O2", "-g", "p.c", "-o", "c"], cwd=root, check=True)
    subprocess.run(["g++", "-O2", "-g", "p.cc", "-o", "cxx"], cwd=root, check=True)
    (root / "rsp").write_text("--obj=c\n-a '--output-style=GNU'\n")
    return root


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict:
    return cache_env(tmp_path_factory.mktemp("cache"))


def addresses(binary: Path, every: int = 5) -> list[str]:
    return objdump_addresses(binary, every)


def symbol(binary: Path, name: str) -> str:
    out = subprocess.run(["nm", str(binary)], capture_output=True, text=True, check=True).stdout
    return next("0x" + line.split()[0].lstrip("0") for line in out.splitlines() if line.endswith(" " + name))


def same(work: Path, env: dict, argv: list[str], stdin: str | None = None, extra_env: dict | None = None) -> str:
    need_tool("llvm-symbolizer")
    full_env = dict(env, **(extra_env or {}))
    theirs = run(["llvm-symbolizer", *argv], stdin, full_env, work)
    ours = run([*UNWIND, *argv], stdin, full_env, work)
    assert (ours.stdout, ours.stderr, ours.returncode) == (theirs.stdout, theirs.stderr, theirs.returncode)
    return ours.stdout


# Option spellings and combinations on the C++ program (inline chains, long demangled names).
CXX_FLAGS = [
    ["-i"], ["-f"], ["-Cfi"], ["-fC", "-a"], ["-apsf"], ["-a", "-p"],
    ["--functions=short"], ["-f=short"], ["--functions=short", "--output-style=JSON"], ["--functions", "short"],
    ["--functions=none", "-p"], ["--functions=none", "-p", "-a"], ["--functions=linkage", "--functions=bogus"],
    ["--no-inlines", "--output-style=GNU"], ["--no-inlines", "--output-style=GNU", "-f"], ["--no-inlines", "-p"],
    ["--verbose", "-p"], ["--verbose", "--output-style=GNU"], ["--verbose", "--output-style=JSON"],
    ["--verbose", "--no-inlines"], ["--relativenames"], ["--relativenames", "--output-style=JSON"],
    ["--relativenames", "--verbose"], ["--basenames", "--relativenames"], ["--relativenames", "--basenames"],
    ["-demangle=false"], ["-demangle=false", "-demangle=true"], ["--no-demangle", "-C"],
    ["--output-style=gnu"], ["--output-style", "GNU"], ["--adjust-vma=0x10"], ["--adjust-vma", "020"],
    ["--relative-address"], ["--inlining=false"], ["--inlining=true", "--no-inlines", "--inlining"],
    ["--dwp=nonexistent.dwp"], ["--fallback-debug-path=/nonexistent"],
    ["--untag-addresses", "--no-untag-addresses", "--dia"], ["--default-arch=x86_64", "--dsym-hint=x"],
]


@pytest.mark.parametrize("flags", CXX_FLAGS, ids=" ".join)
def test_option_spellings_on_cxx(work, env, flags):
    same(work, env, ["-e", "cxx", *flags, *addresses(work / "cxx", every=9)])


@pytest.mark.parametrize("flags", [["--print-source-context-lines=5"], ["--print-source-context-lines", "2",
                                   "--output-style=GNU"], ["--print-source-context-lines=3", "--output-style=JSON"],
                                   ["--print-source-context-lines=1", "-p", "-a"], ["--print-source-context-lines=-3"],
                                   ["--print-source-context-lines=4", "-s"]], ids=" ".join)
def test_source_context(work, env, flags):
    out = same(work, env, ["--obj=c", *flags, *addresses(work / "c", every=4)])
    if flags[0].endswith("=5"):
        assert " >: " in out


@pytest.mark.parametrize("argv", [
    ["--inline", "0x1"], ["-x", "0x1"], ["-obj=c", "0x1"], ["-s=1", "0x1"], ["-i=false", "0x1"], ["--", "0x1"],
    ["-e"], ["--obj"], ["-ab", "0x1"], ["--verbos"], ["--print-source-context-lines=zz", "0x1"],
    ["--adjust-vma", "-1", "0x1"], ["--version"], ["-v"],
], ids=" ".join)
def test_bad_options_and_version(work, env, argv):
    if argv[0] in ("--version", "-v"):  # ours prints its own version: exit status and line count only
        theirs = subprocess.run(["llvm-symbolizer", *argv], capture_output=True, text=True)
        ours = subprocess.run([*UNWIND, *argv], capture_output=True, text=True, env=env)
        assert ours.returncode == theirs.returncode == 0 and ours.stdout.startswith("unwind symbolize\n")
        return
    same(work, env, ["--obj=c", *argv])


def test_input_conventions_on_the_command_line(work, env):
    data = symbol(work / "c", "table")
    code = symbol(work / "c", "outer")
    inputs = [f"DATA {data}", f"DATA {hex(int(data, 16) + 9)}", "DATA 0x0", f"CODE {code}", f"FOO {code}",
              f"{code} junk", "0b101", "0o17", "017", "09", "+5", f" {code}", "", "-"]
    for style in ("LLVM", "GNU", "JSON"):
        same(work, env, ["--obj=c", f"--output-style={style}", *inputs])


def test_files_per_line_quotes_and_errors_once_per_file(work, env):
    code = symbol(work / "c", "outer")
    inputs = [f"c {code}", f'"c" {code}', f"'c' {code}", f'"c {code}', f"nofile {code}", "nofile 0x20",
              f"DATA nofile {code}", f"p.c {code}", f"p.c {code}", f'"" {code}', f"/ {code}"]
    for style in ("LLVM", "GNU", "JSON"):
        same(work, env, [f"--output-style={style}", *inputs])
        same(work, env, [f"--output-style={style}"], stdin="\n".join(inputs) + "\n")


def test_stdin_prefixes_and_line_ends(work, env):
    data = symbol(work / "c", "table")
    code = symbol(work / "c", "outer")
    stdin = f"DATA {data}\r\nCODE {code}\n\n{code}\r\nc {code}\n  {code}  \nzz\n{code}"
    for style in ("LLVM", "GNU", "JSON"):
        same(work, env, ["-e", "c", f"--output-style={style}", "-a"], stdin=stdin)


def test_response_files_and_environment(work, env):
    code = symbol(work / "c", "outer")
    same(work, env, ["@rsp", code])
    same(work, env, ["@missing-file", code])
    same(work, env, ["-e", "c", code], extra_env={"LLVM_SYMBOLIZER_OPTS": "-a --output-style=GNU -f=short"})


def test_basenames_keep_absolute_line_table_names(work, env):
    """LLVM's BaseNameOnly shortens a line-table file name only when the entry itself is relative: clang
    compiling an absolute source path from / writes absolute entries, and --basenames prints them whole
    (file, inlined call file and StartFileName alike)."""
    need_tool("clang-14")
    subprocess.run(["clang-14", "-g", "-O2", "-c", str(work / "p.c"), "-o", str(work / "abs.o")], cwd="/", check=True)
    subprocess.run(["clang-14", "abs.o", "-o", "abs"], cwd=work, check=True)
    stdin = "".join(f"{a}\n" for a in addresses(work / "abs", 3))
    for flags in (["--basenames"], ["--basenames", "--output-style=JSON"], ["--basenames", "--verbose"],
                  ["--output-style=GNU", "-s", "-i"]):
        same(work, env, ["--obj=abs", *flags], stdin)
    assert f"{work}/p.c:" in same(work, env, ["--obj=abs", "--basenames"], stdin)
