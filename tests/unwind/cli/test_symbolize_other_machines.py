"""ELF files of other machines (32-bit ARM in Thumb and ARM state, AArch64, RISC-V, little-endian PowerPC64 and
32-bit MIPS) through `unwind symbolize`, against llvm-symbolizer 14.

LLVM's ELFObjectFile leaves out of the symbol table what it flags SF_FormatSpecific: AArch64's `$x`/`$d` and
ARM's `$a`/`$t`/`$d` mapping symbols, RISC-V's nameless label-difference symbols; and it clears bit 0 (the
Thumb bit) of an ARM function symbol's value.  The programs are built here with clang-14 and ld.lld-14,
freestanding (no C library for these targets is needed): objects and executables, with and without DWARF.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import need_tool
from llvm_peer import cache_env, run

UNWIND = [sys.executable, "-m", "unwind", "symbolize"]
FLAG_SETS = [[], ["--output-style=JSON"], ["--output-style=GNU", "-a", "-p", "-s"], ["--no-inlines"], ["--verbose"]]

SOURCE = r"""
int data_table[4] = {1, 2, 3, 4};
static int counter;
static __attribute__((noinline)) int helper(int x) { counter += x; return x * 3 + data_table[x & 3]; }
static inline int twice(int x) { return helper(x) + helper(x + 1); }
int work(int n) {
    int s = 0;
    for (int i = 0; i < n; i++) s += twice(i);
#if defined(__aarch64__) || defined(__arm__)
    __asm__ volatile("b 1f\n.p2align 2\n.word 0x11223344\n1:\n");  /* data in code: a $d mapping symbol */
#endif
    return s;
}
int main(void) { return work(7); }
"""

TARGETS = {"thumb": ["--target=armv7a-linux-gnueabihf", "-mthumb"],
           "arm": ["--target=armv7a-linux-gnueabihf", "-marm"],
           "aarch64": ["--target=aarch64-linux-gnu"],
           "riscv64": ["--target=riscv64-linux-gnu"],
           "ppc64le": ["--target=powerpc64le-linux-gnu"],
           "mipsel": ["--target=mipsel-linux-gnu"]}
# Left out: a mipsel object with DWARF, whose nameless NOTYPE symbols (in its debug sections, at offsets that
# overlap .text's in a relocatable file) llvm-symbolizer 14 prints as an empty function name where we print
# `??` (NOTES.md, "ELF files of other machines").
BUILDS = [(target, debug, kind) for target in TARGETS for debug in ("-g0", "-g") for kind in ("o", "exe")
          if (target, debug, kind) != ("mipsel", "-g", "o")]


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    for tool in ("clang-14", "ld.lld", "readelf"):
        need_tool(tool)
    root = tmp_path_factory.mktemp("machines")
    (root / "t.c").write_text(SOURCE)
    for target, debug, kind in BUILDS:
        out = f"{target}{debug}.{kind}"
        link = ["-c"] if kind == "o" else ["-nostdlib", "-static", "-fuse-ld=lld", "-Wl,-e,main"]
        subprocess.run(["clang-14", *TARGETS[target], "-O1", debug, *link, "t.c", "-o", out], cwd=root, check=True)
    return root


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict:
    return cache_env(tmp_path_factory.mktemp("cache"))


def text_addresses(path: Path) -> list[str]:
    """Every second byte of .text and a few past its end, as `0x...` strings."""
    sections = run(["readelf", "-S", "-W", str(path)]).stdout
    found = re.search(r"\]\s+\.text\s+PROGBITS\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)", sections)
    assert found, sections
    start, size = int(found.group(1), 16), int(found.group(2), 16)
    return [f"0x{a:x}" for a in range(start, start + size + 4, 2)]


@pytest.mark.parametrize("target,debug,kind", BUILDS, ids=[f"{t}{d}.{k}" for t, d, k in BUILDS])
def test_other_machines_answered_as_llvm_does(work, env, target, debug, kind):
    """stdout, stderr and exit status equal to llvm-symbolizer 14's under the five flag sets, code and data."""
    need_tool("llvm-symbolizer")
    path = work / f"{target}{debug}.{kind}"
    addresses = text_addresses(path)
    data = run(["readelf", "-s", "-W", str(path)]).stdout
    data_addresses = [f"DATA 0x{int(m, 16):x}" for m in re.findall(r"^\s*\d+: ([0-9a-f]+)\s+\d+ OBJECT", data, re.M)]
    for flags in FLAG_SETS:
        argv = [f"--obj={path}", *flags, *addresses, *data_addresses]
        ours = run([*UNWIND, *argv], env=env)
        theirs = run(["llvm-symbolizer", *argv], env=env)
        assert (ours.stdout, ours.stderr, ours.returncode) == (theirs.stdout, theirs.stderr, theirs.returncode), flags
    names = run(["llvm-symbolizer", f"--obj={path}", *addresses], env=env).stdout
    assert "work" in names and "main" in names and not re.search(r"^\$[adtx]", names, re.M)
