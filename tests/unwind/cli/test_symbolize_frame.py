"""`FRAME` requests: the local variables of the function at an address, printed as llvm-symbolizer 14 prints them.

The programs are built here by gcc and clang-14 (optimised and not, DWARF 4 and 5, linked and as
relocatable objects, and clang's HWASan instrumentation for DW_AT_LLVM_tag_offset); llvm-symbolizer 14
runs beside us on the same input, and stdout, stderr and the exit status must be equal byte for byte.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import need_tool
from llvm_peer import cache_env, objdump_addresses, run

UNWIND = [sys.executable, "-m", "unwind", "symbolize"]
FLAG_SETS = [[], ["--output-style=JSON"], ["--output-style=GNU", "-a", "-p", "-s"], ["--no-inlines"], ["--verbose"]]

# Every kind of type getTypeSize distinguishes: byte_size, pointers and references without it (clang),
# qualifiers and typedefs, arrays (a bound of 255 in DW_FORM_data1 is -1 to LLVM 14), VLAs, opaque
# structs, pointers to members; locals in lexical blocks, statics, parameters of inlined functions.
C_SOURCE = r"""
#include <string.h>
typedef const volatile unsigned long cvul;
struct S { int a; char b[7]; };
union U { int i; double d; };
struct Opaque;
typedef int (*fnptr)(int);
int use(void *p);
static inline int inl(int q) { char scratch[256]; scratch[0] = (char)q; return use(scratch) + q; }
__attribute__((noinline)) int work(int n, struct S *s, struct Opaque *o, fnptr fp) {
    cvul k = n;
    struct S local = *s;
    union U u;
    char grid[3][255];
    int vla[n];
    static int calls;
    u.i = n;
    grid[1][2] = (char)n;
    vla[0] = n;
    calls++;
    { long inner = n * 3; local.a += (int)inner; }
    return inl(n) + local.a + u.i + grid[1][2] + vla[0] + (int)k + fp(n) + use(o) + calls;
}
static int twice(int x) { return 2 * x; }
int use(void *p) { return p != 0; }
int main(int argc, char **argv) { struct S s = {argc, "abc"}; return work(argc, &s, 0, twice) + inl(argc); }
"""

CXX_SOURCE = r"""
#include <cstring>
#include <vector>
struct Point { int x, y; double z; int get(int k) const { int t = x + k; return t * y; } };
typedef Point *PointPtr;
static inline int helper(int a, const char *s) { volatile int local = a * 2; char buf[16]; strcpy(buf, s); return local + buf[0]; }
namespace ns { struct C { int bar(int q) { int arr[3][4]; arr[1][2] = q; return arr[1][2] + helper(q, "x"); } }; }
template <typename T> __attribute__((noinline)) T twice(T v) { T copy = v; return copy + v; }
__attribute__((noinline)) int foo(int n, PointPtr p, int &ref, int &&rv) {
    Point pt = {n, 2, 3.0};
    static int counter;
    counter++;
    int (Point::*method)(int) const = &Point::get;
    int Point::*member = &Point::y;
    { long inner = n * 3; ref += inner; }
    ns::C c;
    std::vector<int> v(3, n);
    auto lambda = [&](int k) { int w = k + pt.x; return w * n; };
    return helper(n, "abc") + pt.x + p->*member + (pt.*method)(n) + c.bar(n) + counter + rv + lambda(v[1])
           + twice(n) + (int)twice(1.5);
}
int main(int argc, char **argv) { Point p = {1, 2, 3}; int r = argc; return foo(argc, &p, r, argc + 1); }
"""

# no #include: cross-compiled for AArch64, where no target headers are installed
TYPES_SOURCE = r"""
struct Opaque;
struct Pair { int a; long b; };
int sink(const void *);
int types(int n) {
    char c = (char)n; char *p = &c; char &r = c; char &&rr = 1; int (Opaque::*method)() = 0; int Opaque::*member = 0;
    const char k = 2; volatile short v = 3; char *__restrict q = p; typedef char byte; byte b = 4;
    char grid[12][24]; Pair pairs[3];
    return sink(grid) + sink(pairs) + sink(&method) + sink(&member) + c + *p + r + rr + k + v + *q + b;
}
"""

HWASAN_SOURCE = r"""
int use(char *p);
int f(int n) { char buf[10]; char big[300]; int x = n; buf[0] = (char)n; big[1] = 2; return use(buf) + use(big) + x; }
"""

BUILDS = {
    "c-gcc-O0": ("gcc", "p.c", ["-O0"]),
    "c-gcc-O2": ("gcc", "p.c", ["-O2"]),
    "c-clang-O0": ("clang-14", "p.c", ["-O0"]),
    "c-clang-O2": ("clang-14", "p.c", ["-O2"]),
    "cxx-gcc-O0": ("g++", "p.cc", ["-O0"]),
    "cxx-gcc-O2": ("g++", "p.cc", ["-O2"]),
    "cxx-gcc-O1-dwarf4": ("g++", "p.cc", ["-O1", "-gdwarf-4"]),
    "cxx-clang-O0": ("clang++-14", "p.cc", ["-O0"]),
    "cxx-clang-O2": ("clang++-14", "p.cc", ["-O2"]),
    "cxx-clang-O3-dwarf4": ("clang++-14", "p.cc", ["-O3", "-gdwarf-4"]),
}


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """The sources, each build linked (`NAME`) and as its relocatable object (`NAME.o`), and an HWASan object."""
    for tool in ("gcc", "g++", "clang-14", "clang++-14", "objdump"):
        need_tool(tool)
    root = tmp_path_factory.mktemp("frame")
    (root / "p.c").write_text(C_SOURCE)
    (root / "p.cc").write_text(CXX_SOURCE)
    (root / "h.c").write_text(HWASAN_SOURCE)
    (root / "types.cc").write_text(TYPES_SOURCE)
    for name, (compiler, source, flags) in BUILDS.items():
        subprocess.run([compiler, "-g", *flags, "-c", source, "-o", f"{name}.o"], cwd=root, check=True)
        subprocess.run([compiler, f"{name}.o", "-o", name], cwd=root, check=True)
    subprocess.run(["clang-14", "-g", "-O0", "-fsanitize=hwaddress", "-c", "h.c", "-o", "hwasan.o"], cwd=root,
                   check=True)
    # AArch64 objects, as LLVM's own FRAME lit tests use (frame.s, output-style-json-frame.ll): HWASan's
    # home, relocated with R_AARCH64_ABS64/ABS32
    subprocess.run(["clang-14", "--target=aarch64-linux-android", "-g", "-O0", "-fsanitize=hwaddress", "-c", "h.c",
                    "-o", "hwasan-aarch64.o"], cwd=root, check=True)
    subprocess.run(["clang++-14", "--target=aarch64-linux-gnu", "-g", "-O0", "-c", "types.cc", "-o",
                    "cxx-aarch64.o"], cwd=root, check=True)
    return root


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict:
    return cache_env(tmp_path_factory.mktemp("cache"))


def same(work: Path, env: dict, argv: list[str], stdin: str | None = None) -> str:
    need_tool("llvm-symbolizer")
    theirs = run(["llvm-symbolizer", *argv], stdin, env, work)
    ours = run([*UNWIND, *argv], stdin, env, work)
    assert theirs.returncode == 0
    assert (ours.stdout, ours.stderr, ours.returncode) == (theirs.stdout, theirs.stderr, theirs.returncode)
    return ours.stdout


def frame_requests(work: Path, name: str, every: int) -> str:
    return "".join(f"FRAME {a}\n" for a in objdump_addresses(work / name, every))


@pytest.mark.parametrize("name", sorted(BUILDS))
def test_frame_answers_equal_llvm_symbolizer(work, env, name):
    """Every second instruction of the linked program, under the five flag sets of the other symbolize tests."""
    requests = frame_requests(work, name, 2)
    for flags in FLAG_SETS:
        out = same(work, env, [f"--obj={name}", *flags], requests)
        assert out.count("\n") >= requests.count("\n")
    # the answers name variables and their sizes (not only "??"); unoptimised code has frame offsets
    plain = run([*UNWIND, f"--obj={name}"], requests, env, work).stdout
    sized = [line for line in plain.splitlines() if re.fullmatch(r"(-?\d+|\?\?) \d+ \?\?", line)]
    assert sized
    if "-O0" in BUILDS[name][2]:
        assert any(line.startswith("-") for line in sized)


@pytest.mark.parametrize("name", ["c-gcc-O2", "cxx-gcc-O0", "cxx-clang-O2", "cxx-gcc-O1-dwarf4"])
def test_frame_answers_in_relocatable_objects(work, env, name):
    """Objects: DWARF relocated (.rela.debug_info, .rela.debug_loclists) before the variables are read."""
    requests = frame_requests(work, f"{name}.o", 1)
    same(work, env, [f"--obj={name}.o"], requests)
    same(work, env, [f"--obj={name}.o", "--output-style=JSON"], requests)


def test_hwasan_tag_offsets(work, env):
    """DW_AT_LLVM_tag_offset: decimal in the plain styles, hex in JSON."""
    out = same(work, env, ["--obj=hwasan.o", "FRAME 0x10"])
    assert "-32 10 0\n" in out and "-336 300 1\n" in out
    out = same(work, env, ["--obj=hwasan.o", "--output-style=JSON", "FRAME 0x10"])
    assert '"Size":"0x12c","TagOffset":"0x1"' in out


def test_frame_inputs_and_edges(work, env):
    """Command-line and stdin requests, --adjust-vma, -a/-p headers, no function, no file, mixed with CODE/DATA."""
    main = next(a for a in objdump_addresses(work / "cxx-gcc-O0", 1) if a.endswith("0"))
    same(work, env, ["--obj=cxx-gcc-O0", f"FRAME {main}", "FRAME 0x0", f"CODE {main}", f"DATA {main}"])
    same(work, env, ["--obj=cxx-gcc-O0", "--output-style=JSON", f"FRAME {main}", "FRAME 0x0"])
    same(work, env, ["--obj=cxx-gcc-O0", "--adjust-vma=0x10", "-a", f"FRAME {int(main, 16) + 0x10:#x}"])
    same(work, env, [], f"FRAME cxx-gcc-O0 {main}\nFRAME missing-file {main}\nFRAME missing-file 0x1\n")
    same(work, env, ["--output-style=JSON"], f"FRAME missing-file {main}\nFRAME 'cxx-gcc-O0' {main}\n")


@pytest.mark.parametrize("name", ["hwasan-aarch64.o", "cxx-aarch64.o"])
def test_aarch64_objects(work, env, name):
    """FRAME and CODE on AArch64 objects (the machine of LLVM's FRAME lit tests), every instruction."""
    need_tool("llvm-objdump")
    text = subprocess.run(["llvm-objdump", "-d", "--no-show-raw-insn", name], cwd=work, capture_output=True,
                          text=True, check=True).stdout
    addresses = [f"0x{a}" for a in re.findall(r"^\s+([0-9a-f]+):", text, re.M)]
    assert addresses
    requests = "".join(f"FRAME {a}\n{a}\n" for a in addresses)
    same(work, env, [f"--obj={name}"], requests)
    out = same(work, env, [f"--obj={name}", "--output-style=JSON"], requests)
    assert '"FrameOffset"' in out
