"""Real-world programs for the perf agreement checks: built here with each real toolchain, then recorded.

Each builder returns the argv of a short CPU-bound run (about a second); builds are cached in `tmp`.
Rust is Debian's /usr/bin/rustc (a rustup toolchain earlier in PATH is not on CI), Go builds
offline from its standard library only.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from record import CXX_PROGRAM

RUST_PROGRAM = r"""
use std::collections::{BTreeMap, HashMap};

#[inline(never)]
fn churn(seed: u64) -> u64 {
    let mut m: HashMap<u64, Vec<u64>> = HashMap::new();
    let mut x = seed;
    for i in 0..200_000u64 {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        m.entry(x % 5000).or_default().push(i ^ x);
    }
    let mut t: BTreeMap<u64, u64> = BTreeMap::new();
    for (k, v) in m.iter_mut() {
        v.sort_unstable();
        t.insert(*k, v.iter().fold(0u64, |a, b| a.wrapping_add(*b)));
    }
    t.values().fold(0, |a, b| a ^ b)
}

fn main() {
    let mut total = 0u64;
    for round in 0..ROUNDS {
        total ^= churn(round);
    }
    println!("{}", total);
}
"""

GO_PROGRAM = r"""
package main

import (
	"fmt"
	"sort"
	"strings"
)

//go:noinline
func churn(seed int) int {
	words := make([]string, 0, 100000)
	x := uint64(seed)
	for i := 0; i < 100000; i++ {
		x = x*6364136223846793005 + 1442695040888963407
		words = append(words, fmt.Sprintf("%x", x>>40))
	}
	sort.Strings(words)
	return len(strings.Join(words, ","))
}

func main() {
	total := 0
	for round := 0; round < ROUNDS; round++ {
		total += churn(round)
	}
	fmt.Println(total)
}
"""

NODE_PROGRAM = "let t=0; for (let r=0; r<ROUNDS; r++) { const a=[]; for (let i=0;i<200000;i++) a.push((i*2654435761+r)%1000003);" \
               " a.sort((x,y)=>x-y); t+=a[a.length>>1]; } console.log(t);"


def _build(out: Path, argv: list[str], env: dict | None = None) -> Path:
    if not out.exists():
        subprocess.run(argv, check=True, capture_output=True, env=env)
    return out


def _debian_env(tmp: Path) -> dict:
    """PATH with /usr/bin first (Debian's rustc/cargo/go), caches inside `tmp`, nothing fetched."""
    return dict(os.environ, PATH="/usr/bin:/bin:" + os.environ.get("PATH", ""), GOCACHE=str(tmp / "gocache"),
                GOPATH=str(tmp / "gopath"), GOFLAGS="-mod=mod", GOPROXY="off", GO111MODULE="off")


def rust(tmp: Path, linker: str = "bfd", rounds: int = 12) -> list[str]:
    """A Rust release build (opt-level 3, rustc's default of no debug info) linked by `linker`."""
    src = tmp / "churn.rs"
    src.write_text(RUST_PROGRAM.replace("ROUNDS", str(rounds)))
    out = tmp / f"rust-{linker}"
    _build(out, ["/usr/bin/rustc", "-C", "opt-level=3", "-C", f"link-arg=-fuse-ld={linker}", str(src), "-o", str(out)],
           _debian_env(tmp))
    return [str(out)]


def cxx(tmp: Path, linker: str, compiler: str = "clang++-14", extra: tuple[str, ...] = ()) -> list[str]:
    """The std::sort/std::map C++ program of record.py, built by `compiler` -O2 -g and linked by `linker`."""
    src = tmp / "cxx-sort.cc"
    src.write_text(CXX_PROGRAM)
    out = tmp / f"cxx-{compiler}-{linker}{''.join(extra)}"
    _build(out, [compiler, "-O2", "-g", f"-fuse-ld={linker}", *extra, str(src), "-o", str(out)])
    return [str(out)]


def go(tmp: Path, rounds: int = 6) -> list[str]:
    """A Go program linked by Go's internal linker (static, non-PIE)."""
    src = tmp / "churn.go"
    src.write_text(GO_PROGRAM.replace("ROUNDS", str(rounds)))
    out = tmp / "go-churn"
    _build(out, ["go", "build", "-o", str(out), str(src)], _debian_env(tmp))
    return [str(out)]


def git(tmp: Path) -> list[str]:
    """Debian's git computing `log -p` over a repository of 40 commits made here."""
    repo = tmp / "repo"
    if not (repo / ".git").exists():
        repo.mkdir()
        env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
                   GIT_COMMITTER_EMAIL="t@t", GIT_AUTHOR_DATE="2020-01-01T00:00:00",
                   GIT_COMMITTER_DATE="2020-01-01T00:00:00")
        subprocess.run(["git", "init", "-q", str(repo)], check=True, env=env)
        for i in range(40):
            lines = [f"line {j} {(j * 7919 + i * (j % 13 == 0)) % 100003}\n" for j in range(20000)]
            (repo / "data.txt").write_text("".join(lines))
            subprocess.run(["git", "-C", str(repo), "add", "data.txt"], check=True, env=env)
            subprocess.run(["git", "-C", str(repo), "commit", "-qm", f"c{i}"], check=True, env=env)
    return ["git", "-C", str(repo), "--no-pager", "log", "-p", "--no-color"]


def node(tmp: Path, rounds: int = 4) -> list[str]:
    """Debian's node sorting arrays (JIT code: perf map file written by --perf-basic-prof)."""
    return ["node", "--perf-basic-prof", "-e", NODE_PROGRAM.replace("ROUNDS", str(rounds))]


def realworld_workloads(tmp: Path) -> dict[str, list[str]]:
    """name -> argv of every real-world program (built on first use)."""
    return {
        "rust-bfd": rust(tmp, "bfd"),
        "rust-lld": rust(tmp, "lld"),
        "cxx-clang-lld": cxx(tmp, "lld"),
        "cxx-clang-bfd": cxx(tmp, "bfd"),
        "cxx-gcc-gold": cxx(tmp, "gold", "g++"),
        "cxx-gcc-mold": cxx(tmp, "mold", "g++"),
        "go": go(tmp),
        "git": git(tmp),
    }


VDSO_PROGRAM = r"""
#include <time.h>
int main(void) {
    struct timespec ts;
    long total = 0;
    for (int i = 0; i < 4000000; i++) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
        total += ts.tv_nsec & 1;
    }
    return total == -1;
}
"""

PLT_PROGRAM = r"""
#include <cstdio>
int main() {
    long total = 0;
    for (int i = 0; i < 20000000; i++) {
        long* p = new long(i);
        __asm__ volatile("" : : "r"(p) : "memory");
        total += *p;
        delete p;
    }
    std::printf("%ld\n", total);
}
"""


def vdso(tmp: Path) -> list[str]:
    """A C loop over clock_gettime, which runs in the vDSO."""
    src = tmp / "vdso.c"
    src.write_text(VDSO_PROGRAM)
    out = tmp / "vdso-clock"
    return [str(_build(out, ["gcc", "-O2", "-g", str(src), "-o", str(out)]))]


def plt(tmp: Path, linker: str | None = None) -> list[str]:
    """A C++ loop over new/delete: samples in the executable's PLT entries of `operator new`/`delete`. By g++ and
    GNU ld (its .plt has CFI), or by clang++ and `linker` (lld and mold write none for it)."""
    src = tmp / "plt.cc"
    src.write_text(PLT_PROGRAM)
    if linker is None:
        out = tmp / "plt-new-delete"
        return [str(_build(out, ["g++", "-O2", "-g", str(src), "-o", str(out)]))]
    out = tmp / f"plt-new-delete-{linker}"
    return [str(_build(out, ["clang++-14", "-O2", "-g", f"-fuse-ld={linker}", str(src), "-o", str(out)]))]


RUST_NAMES_PROGRAM = r"""
/* Functions under Rust symbol names, both manglings: v0 (`_R...`, how Rust's standard library names its
   functions since 1.9x, e.g. std::rt::lang_start_internal) and legacy (`_ZN...17h<hash>E`). */
volatile unsigned long sink;
__attribute__((noinline)) void spin(unsigned long n) __asm__("_RNvNtCs1a2b3c_5hello6worker4spin");
__attribute__((noinline)) void spin(unsigned long n) { for (unsigned long i = 0; i < n; i++) sink += i * i; }
__attribute__((noinline)) void run(int r) __asm__("_ZN5hello3run17h0123456789abcdefE");
__attribute__((noinline)) void run(int r) { spin(4000000 + r); sink += r; }
__attribute__((noinline)) void generic(int r) __asm__("_RINvCs1a2b3c_5hello7genericmEB2_");
__attribute__((noinline)) void generic(int r) { run(r); sink += 1; }
int main(void) { for (int r = 0; r < 40; r++) generic(r); return 0; }
"""


def rust_names(tmp: Path) -> list[str]:
    """A C program whose functions carry Rust v0 and legacy mangled names."""
    src = tmp / "rust_names.c"
    src.write_text(RUST_NAMES_PROGRAM)
    out = tmp / "rust-names"
    return [str(_build(out, ["gcc", "-O2", "-g", str(src), "-o", str(out)]))]


DEEP_PROGRAM = r"""
#include <stdio.h>
__attribute__((noinline)) long rec(int n, long x) {
    if (n == 0) { for (long i = 0; i < 300000; i++) x = x * 31 + i; return x; }
    long r = rec(n - 1, x + n);
    __asm__ volatile("" : "+r"(r));
    return r + 1;
}
int main(void) { long t = 0; for (int i = 0; i < 150; i++) t += rec(200, i); printf("%ld\n", t); }
"""


def deep(tmp: Path) -> list[str]:
    """200-deep recursion: more user frames than perf's default --max-stack of 127 (record with a 64 KiB copy)."""
    src = tmp / "deep.c"
    src.write_text(DEEP_PROGRAM)
    out = tmp / "deep-recursion"
    return [str(_build(out, ["gcc", "-O2", "-g", str(src), "-o", str(out)]))]
