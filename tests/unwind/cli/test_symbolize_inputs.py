"""`unwind symbolize` and `dump-cfi` on the files users actually have: debug-only files, objects, kernel modules.

Every expected answer comes from llvm-symbolizer 14 (and readelf for frames), run here on files
built here with the real toolchains (gcc, clang, objcopy, eu-strip, Kbuild) or taken from
Debian's kernel packages.
"""

from __future__ import annotations

import glob
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import need_tool, orc_fixtures
from llvm_peer import cache_env, objdump_addresses, run

UNWIND = [sys.executable, "-m", "unwind"]

C_SOURCE = r"""
#include <stdio.h>
static inline __attribute__((always_inline)) int leaf(int x) { return x * 3 + 1; }
static inline int middle(int x) { return leaf(x) ^ leaf(x + 7); }
__attribute__((noinline)) int outer(int x) { int s = 0; for (int i = 0; i < x; i++) s += middle(i); return s; }
static __thread int tls_counter;
__attribute__((noinline)) int bump(void) { return ++tls_counter; }
int main(int argc, char **argv) { printf("%d %d\n", outer(argc + 10), bump()); return 0; }
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

MODULE_SOURCE = r"""
#include <linux/module.h>
#include <linux/kernel.h>
static noinline int helper(int x) { return x * 7 + 1; }
static inline int twice(int x) { return helper(x) + helper(x + 1); }
noinline int symtest_work(int n) { int s = 0; for (int i = 0; i < n; i++) s += twice(i); return s; }
EXPORT_SYMBOL(symtest_work);
static int __init symtest_init(void) { pr_info("symtest %d\n", symtest_work(3)); return 0; }
static void __exit symtest_exit(void) { pr_info("bye\n"); }
module_init(symtest_init);
module_exit(symtest_exit);
MODULE_LICENSE("GPL");
"""

FLAG_SETS = [[], ["--output-style=JSON"], ["--output-style=GNU", "-a", "-p", "-s"], ["--no-inlines"], ["--verbose"]]


def code_addresses(binary: Path, every: int = 2) -> list[str]:
    return objdump_addresses(binary, every)


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict:
    return cache_env(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    """name -> (file to symbolise, file whose code gives the addresses)."""
    need_tool("gcc")
    root = tmp_path_factory.mktemp("inputs")
    (root / "p.c").write_text(C_SOURCE)
    (root / "p.cc").write_text(CXX_SOURCE)
    steps = [
        ["gcc", "-O2", "-g", "p.c", "-o", "c"],
        ["g++", "-O2", "-g", "p.cc", "-o", "cxx"],
        ["objcopy", "--only-keep-debug", "c", "c.debug"],
        ["objcopy", "--only-keep-debug", "cxx", "cxx.debug"],
        ["cp", "c", "c.stripped"],
        ["eu-strip", "-f", "c.eu.debug", "c.stripped"],
        ["gcc", "-O2", "-g", "-c", "p.c", "-o", "c.o"],
        ["gcc", "-O2", "-g", "-gdwarf-4", "-gz=zlib", "-c", "p.c", "-o", "c4z.o"],
        ["g++", "-O2", "-g", "-c", "p.cc", "-o", "cxx.o"],
    ]
    if shutil.which("clang++-14"):
        steps.append(["clang++-14", "-O2", "-g", "-c", "p.cc", "-o", "cxx-clang.o"])
    for cmd in steps:
        subprocess.run(cmd, cwd=root, check=True)
    out = {
        "objcopy-debug": (root / "c.debug", root / "c"),
        "objcopy-debug-c++": (root / "cxx.debug", root / "cxx"),
        "eu-strip-f": (root / "c.eu.debug", root / "c"),
        "gcc.o": (root / "c.o", root / "c.o"),
        "gcc-dwarf4-zlib.o": (root / "c4z.o", root / "c4z.o"),
        "g++.o": (root / "cxx.o", root / "cxx.o"),
    }
    if (root / "cxx-clang.o").exists():
        out["clang++.o"] = (root / "cxx-clang.o", root / "cxx-clang.o")
    return out


def same_as_llvm(target: Path, addresses: list[str], flags: list[str], env: dict) -> None:
    stdin = "\n".join(addresses) + "\n"
    theirs = run(["llvm-symbolizer", f"--obj={target}", *flags], stdin)
    ours = run([*UNWIND, "symbolize", f"--obj={target}", *flags], stdin, env)
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == theirs.stdout
    assert "??:0:0\n\n" * 3 not in ours.stdout  # the inputs really have answers


INPUTS = ["objcopy-debug", "objcopy-debug-c++", "eu-strip-f", "gcc.o", "gcc-dwarf4-zlib.o", "g++.o", "clang++.o"]


@pytest.mark.parametrize("flags", FLAG_SETS, ids=lambda f: " ".join(f) or "default")
@pytest.mark.parametrize("name", INPUTS)
def test_debug_only_files_and_objects_answer_as_llvm_does(built, env, name, flags):
    need_tool("llvm-symbolizer")
    if name not in built:
        pytest.skip(f"{name}: toolchain not installed")
    target, code = built[name]
    same_as_llvm(target, code_addresses(code), flags, env)


@pytest.mark.parametrize("name", ["objcopy-debug", "eu-strip-f", "gcc.o", "gcc-dwarf4-zlib.o"])
def test_dump_cfi_reads_them_as_readelf_does(built, env, name):
    target, _ = built[name]
    theirs = run(["readelf", "--debug-dump=frames-interp", str(target)])
    ours = run([*UNWIND, "dump-cfi", str(target)], env=env)
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == theirs.stdout
    assert "pc=" in ours.stdout or "NOBITS" in ours.stderr + ours.stdout


def _headers() -> str | None:
    found = sorted(glob.glob("/usr/src/linux-headers-*-amd64"))
    return found[-1] if found else None


@pytest.fixture(scope="module")
def kernel_module(tmp_path_factory) -> Path:
    """An out-of-tree module built with -g by Kbuild against Debian's linux-headers."""
    headers = _headers()
    if headers is None or not shutil.which("make"):
        pytest.skip("linux-headers-amd64 not installed")
    root = tmp_path_factory.mktemp("kmod")
    (root / "symtest.c").write_text(MODULE_SOURCE)
    (root / "Kbuild").write_text("obj-m := symtest.o\nccflags-y := -g\n")
    subprocess.run(["make", "-s", "-C", headers, f"M={root}", "modules"], check=True, capture_output=True)
    return root / "symtest.ko"


@pytest.mark.parametrize("flags", FLAG_SETS, ids=lambda f: " ".join(f) or "default")
def test_kernel_module_with_debug_info(kernel_module, env, flags):
    need_tool("llvm-symbolizer")
    same_as_llvm(kernel_module, code_addresses(kernel_module, every=1), flags, env)


def test_kernel_module_lines_agree_with_eu_addr2line(kernel_module, env):
    """eu-addr2line takes section-relative addresses (-j): compare file:line and the inline chain in .text.

    .text is the first code section, the one llvm-symbolizer picks for an address several sections share.
    """
    need_tool("eu-addr2line")
    text = subprocess.run(["objdump", "-d", "--no-show-raw-insn", "-j", ".text", str(kernel_module)],
                          capture_output=True, text=True, check=True).stdout
    addresses = [f"0x{a}" for a in re.findall(r"^\s+([0-9a-f]+):", text, re.M)]
    theirs = run(["eu-addr2line", "-i", "-j", ".text", "-e", str(kernel_module), *addresses]).stdout.split()
    ours = run([*UNWIND, "symbolize", f"--obj={kernel_module}", "--output-style=GNU", "--functions=none",
                *addresses], env=env).stdout.split()
    # eu-addr2line prints file:line:column; GNU style prints file:line
    assert [re.sub(r":(\d+):\d+$", r":\1", t) for t in theirs] == ours
    assert any(":0" not in t for t in ours)


@pytest.mark.parametrize("version", ["6.1", "6.12"])
def test_debian_kernel_modules(env, version):
    """The .ko files of Debian's kernel packages (no DWARF: symbols and relocated sections only)."""
    need_tool("llvm-symbolizer")
    try:
        modules = orc_fixtures().kernel_modules(version)
    except (OSError, RuntimeError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"Debian kernel {version} modules unavailable: {exc}")
    for module in modules:
        same_as_llvm(module, code_addresses(module, every=3), [], env)


MINI_SOURCE = r"""
#include <stdio.h>
static __attribute__((noinline)) int hidden_helper(int x) { return x * 3 + 1; }
static __attribute__((noinline)) int other_local(int x) { return hidden_helper(x) ^ 5; }
__attribute__((noinline)) int visible(int x) { return other_local(x) + 2; }
int main(int argc, char **argv) { printf("%d\n", visible(argc)); return 0; }
"""

# Fedora's recipe (gdb manual, "MiniDebugInfo"), shared with tests/fuzz/make_seeds.py.
MINI_SCRIPT = "set -e\ngcc -O2 -g m.c -o m\n" + (Path(__file__).resolve().parents[2] / "data" / "minidebuginfo.sh").read_text()


def test_minidebuginfo_names_functions_as_gdb_does(tmp_path, env):
    """llvm-symbolizer 14 does not read .gnu_debugdata (it prints ??); gdb does, and so do we.

    The names must also be what llvm-symbolizer finds in the unstripped binary's full .symtab.
    """
    for tool in ("gdb", "xz", "llvm-symbolizer"):
        need_tool(tool)
    (tmp_path / "m.c").write_text(MINI_SOURCE)
    subprocess.run(["bash", "-c", MINI_SCRIPT], cwd=tmp_path, check=True, capture_output=True)
    nm = subprocess.run(["nm", "--defined-only", str(tmp_path / "m")], capture_output=True, text=True).stdout
    functions = {int(a, 16): n for a, t, n in (line.split() for line in nm.splitlines()) if t in "Tt"}
    assert {"hidden_helper", "other_local", "visible", "main"} <= set(functions.values())
    addresses = [f"0x{a:x}" for a in sorted(functions)] + [f"0x{a + 2:x}" for a in sorted(functions)]
    ours = run([*UNWIND, "symbolize", "--obj", str(tmp_path / "m.mdi"), "-f", "--output-style=GNU", *addresses],
               env=env).stdout.splitlines()[::2]
    gdb = run(["gdb", "-nx", "-batch", *[x for a in addresses for x in ("-ex", f"info symbol {a}")],
               str(tmp_path / "m.mdi")]).stdout.splitlines()
    assert ours == [re.sub(r"( \+ \d+)? in section .*", "", line) for line in gdb]
    full = run(["llvm-symbolizer", "--obj", str(tmp_path / "m"), "-f", "--output-style=GNU", *addresses])
    assert ours == full.stdout.splitlines()[::2]
    assert "hidden_helper" in ours and "other_local" in ours


# prelink moves a PIE or library to a new base after its MiniDebugInfo was made (elfutils' testfilebazmin_pl,
# moved to 0x3000000000): the same program linked at another base stands in for it here.
MOVED_SCRIPT = MINI_SCRIPT.replace("strip --strip-all -R .comment m -o m.mdi", """\
gcc -O2 -g m.c -o moved -Wl,-Ttext-segment=0x3000000000
strip --strip-all -R .comment moved -o m.mdi""")


def test_minidebuginfo_of_a_moved_binary_names_functions_as_gdb_does(tmp_path, env):
    """The .gnu_debugdata symbols keep the addresses of the build they came from; the moved binary's
    sections say where they are now (gdb matches sections by name).  Names as gdb gives them and as
    llvm-symbolizer finds them in the moved binary's own full .symtab."""
    for tool in ("gdb", "xz", "llvm-symbolizer"):
        need_tool(tool)
    (tmp_path / "m.c").write_text(MINI_SOURCE)
    subprocess.run(["bash", "-c", MOVED_SCRIPT], cwd=tmp_path, check=True, capture_output=True)
    nm = subprocess.run(["nm", "--defined-only", str(tmp_path / "moved")], capture_output=True, text=True).stdout
    functions = {int(a, 16): n for a, t, n in (line.split() for line in nm.splitlines()) if t in "Tt"}
    assert min(functions) >= 0x3000000000 and {"hidden_helper", "other_local", "visible", "main"} <= set(
        functions.values())
    addresses = [f"0x{a:x}" for a in sorted(functions)] + [f"0x{a + 2:x}" for a in sorted(functions)]
    ours = run([*UNWIND, "symbolize", "--obj", str(tmp_path / "m.mdi"), "-f", "--output-style=GNU", *addresses],
               env=env).stdout.splitlines()[::2]
    gdb = run(["gdb", "-nx", "-batch", *[x for a in addresses for x in ("-ex", f"info symbol {a}")],
               str(tmp_path / "m.mdi")]).stdout.splitlines()
    assert ours == [re.sub(r"( \+ \d+)? in section .*", "", line) for line in gdb]
    full = run(["llvm-symbolizer", "--obj", str(tmp_path / "moved"), "-f", "--output-style=GNU", *addresses])
    assert ours == full.stdout.splitlines()[::2]
    assert "hidden_helper" in ours and "other_local" in ours
