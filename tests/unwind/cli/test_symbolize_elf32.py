"""32-bit ELF (ELFCLASS32: i386, and x32) through `unwind symbolize`, against llvm-symbolizer 14.

The programs are built here with gcc -m32 / -mx32 and clang-14 --target=i386-linux-gnu, freestanding
(-nostdlib, their own _start), so no 32-bit C library is needed: executables (DWARF 4 and 5, -O0 and
-O2) and relocatable objects, whose .rel.debug_* (R_386_32, R_386_PC32, implicit addends) and x32
.rela.debug_* (R_X86_64_32, R_X86_64_PC32) are applied before DWARF is read.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import need_tool
from llvm_peer import cache_env, objdump_addresses, run

UNWIND = [sys.executable, "-m", "unwind", "symbolize"]
FLAG_SETS = [[], ["--output-style=JSON"], ["--output-style=GNU", "-a", "-p", "-s"], ["--no-inlines"], ["--verbose"]]

C_SOURCE = r"""
struct pair { int a; short b[5]; };
static int table[8] = {1, 2, 3, 4, 5, 6, 7, 8};
static inline __attribute__((always_inline)) int twice(int x) { volatile int y = x; return 2 * y; }
static inline int mix(int x, struct pair *p) { char buf[256]; buf[x & 255] = (char)x; return twice(x) ^ p->a ^ buf[3]; }
__attribute__((noinline)) int work(int n) {
    struct pair p = {n, {1, 2}};
    int s = 0;
    for (int i = 0; i < n; i++) s += mix(i, &p) + table[i & 7];
    return s;
}
__attribute__((noinline)) int recurse(int n) { return n <= 0 ? 0 : 1 + recurse(n - 1) + work(n & 3); }
void _start(void) { volatile int r = recurse(table[2]); for (;;) (void)r; }
"""

CXX_SOURCE = r"""
namespace geo {
template <typename T> struct Vec { T x, y; T dot(const Vec &o) const { return x * o.x + y * o.y; } };
struct Shape { virtual int area() const = 0; };
struct Rect : Shape { int w, h; Rect(int a, int b) : w(a), h(b) {} int area() const override { return w * h; } };
}
__attribute__((noinline)) int measure(const geo::Shape &s, geo::Vec<int> v) { return s.area() + v.dot(v); }
extern "C" void _start() { geo::Rect r(3, 4); volatile int out = measure(r, {1, 2}); for (;;) (void)out; }
"""

BUILDS = {
    "i386-gcc-O0": ("gcc", "p.c", ["-m32", "-O0"]),
    "i386-gcc-O2": ("gcc", "p.c", ["-m32", "-O2"]),
    "i386-gcc-O2-dwarf4": ("gcc", "p.c", ["-m32", "-O2", "-gdwarf-4"]),
    "i386-clang-O1": ("clang-14", "p.c", ["--target=i386-linux-gnu", "-O1"]),
    "i386-gxx-O1": ("g++", "p.cc", ["-m32", "-O1", "-fno-exceptions", "-fno-rtti", "-fno-asynchronous-unwind-tables"]),
    "x32-gcc-O2": ("gcc", "p.c", ["-mx32", "-O2"]),
}


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    for tool in ("gcc", "g++", "clang-14", "objdump", "addr2line"):
        need_tool(tool)
    root = tmp_path_factory.mktemp("elf32")
    (root / "p.c").write_text(C_SOURCE)
    (root / "p.cc").write_text(CXX_SOURCE)
    for name, (compiler, source, flags) in BUILDS.items():
        subprocess.run([compiler, "-g", "-ffreestanding", *flags, "-c", source, "-o", f"{name}.o"], cwd=root,
                       check=True)
        linker = "gcc" if compiler != "clang-14" else "clang-14"
        target = [f for f in flags if f.startswith(("-m32", "-mx32", "--target"))]
        subprocess.run([linker, *target, "-nostdlib", "-static", f"{name}.o", "-o", name], cwd=root, check=True)
    return root


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict:
    return cache_env(tmp_path_factory.mktemp("cache"))


def same(work: Path, env: dict, argv: list[str], stdin: str) -> str:
    need_tool("llvm-symbolizer")
    theirs = run(["llvm-symbolizer", *argv], stdin, env, work)
    ours = run([*UNWIND, *argv], stdin, env, work)
    assert (ours.stdout, ours.stderr, ours.returncode) == (theirs.stdout, theirs.stderr, theirs.returncode)
    return ours.stdout


@pytest.mark.parametrize("name", sorted(BUILDS))
def test_executables_equal_llvm_symbolizer(work, env, name):
    """Every instruction (CODE), every third (FRAME) and the data symbols (DATA), five flag sets."""
    addresses = objdump_addresses(work / name, 1)
    requests = "".join(f"{a}\nFRAME {a}\n" for a in addresses) + "DATA 0x0\n"
    data = subprocess.run(["nm", str(work / name)], capture_output=True, text=True, check=True).stdout
    requests += "".join(f"DATA 0x{line.split()[0]}\n" for line in data.splitlines() if " d " in line or " D " in line)
    for flags in FLAG_SETS:
        out = same(work, env, [f"--obj={name}", *flags], requests)
    assert "work" in out or "measure" in out


@pytest.mark.parametrize("name", sorted(n for n in BUILDS if n.startswith("i386")))
def test_relocatable_i386_objects_equal_llvm_symbolizer(work, env, name):
    """.rel.debug_* applied (implicit addends): names, files, lines and inline chains as llvm-symbolizer 14."""
    requests = "".join(f"{a}\nFRAME {a}\n" for a in objdump_addresses(work / f"{name}.o", 1))
    same(work, env, [f"--obj={name}.o"], requests)
    out = same(work, env, [f"--obj={name}.o", "--output-style=JSON"], requests)
    assert "p.c" in out or "p.cc" in out


def test_relocatable_x32_object_lines_equal_addr2line(work, env):
    """x32 objects: llvm-symbolizer 14 does not apply R_X86_64_32/PC32 in 32-bit files (its names come out as
    `unsigned int`, its files as `p.c/p.c/p.c`); binutils addr2line does, and our file:line chains equal its."""
    addresses = [a for a in objdump_addresses(work / "x32-gcc-O2.o", 1)]
    theirs = subprocess.run(["addr2line", "-i", "-e", "x32-gcc-O2.o", *addresses], cwd=work, capture_output=True,
                            text=True, check=True).stdout
    ours = run([*UNWIND, "--obj=x32-gcc-O2.o", "--output-style=GNU", "--functions=none", *addresses], None, env,
               work).stdout
    assert ours == theirs
    assert str(work / "p.c") in ours
