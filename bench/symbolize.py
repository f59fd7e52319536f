#!/usr/bin/env python3
"""Whole-process wall time of `unwind symbolize` against llvm-symbolizer on the same addresses.

Interleaved runs, medians.  Warm = our index already built; cold = a fresh, empty cache dir.
Usage: .venv/bin/python bench/symbolize.py [--obj /usr/bin/python3.11d] [--count 3000] [--rounds 5]

`--batch cxx` / `--batch rust` (repeatable): a large batch instead, of a binary built here in a temporary
directory (a template-heavy C++ program, CXX_PROGRAM below, by clang++-14 -O2 -g linked by lld;
tests/data/perf/realworld.py's HashMap/BTreeMap churn program by Debian's rustc -C opt-level=3 -g), `--count`
addresses (default 51,000) taken at every Nth instruction of its code (objdump -d), cycled when it has
fewer instructions than that.  Each answer is printed by both tools from the same stdin; cold runs are
left out (`--cold` adds them).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "unwind"))
sys.path.insert(0, str(ROOT / "tests" / "data" / "perf"))
sys.path.insert(0, str(ROOT))

from llvm_peer import random_function_addresses  # noqa: E402

UNWIND = str(Path(sys.executable).with_name("unwind"))


def timed(argv: list[str], stdin: bytes, env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(argv, input=stdin, stdout=subprocess.DEVNULL, check=True, env=env)
    return time.perf_counter() - start


# The C++ batch program: std::regex over char and wchar_t, and map/unordered_map/set/vector/sort churned
# over six key/value type pairs (76 k instructions at clang++-14 -O2 -g: 51,000 distinct addresses).
CXX_PROGRAM = r"""#include <algorithm>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>
#include <iostream>

template <typename K, typename V>
__attribute__((noinline)) V churn(int n, std::function<K(int)> key, std::function<V(int)> value) {
    std::map<K, V> m;
    std::unordered_map<K, V> u;
    std::set<K> s;
    std::vector<std::pair<K, V>> v;
    for (int i = 0; i < n; ++i) {
        K k = key(i);
        m[k] = value(i);
        u.emplace(k, value(i));
        s.insert(k);
        v.emplace_back(k, value(i));
    }
    std::sort(v.begin(), v.end());
    std::stable_sort(v.begin(), v.end(), [](const auto &a, const auto &b) { return b.first < a.first; });
    V total{};
    for (auto &[k, x] : m) total = total + x;
    for (auto &[k, x] : u) if (s.count(k)) total = total + x;
    return total;
}

int main(int argc, char **argv) {
    std::regex words(R"((\w+)\s*=\s*(\d+))");
    std::wregex wwords(LR"((\w+)\s*:\s*(\w+))");
    std::string text = "a = 1, bb = 22, ccc = 333";
    std::ostringstream out;
    for (std::sregex_iterator it(text.begin(), text.end(), words), end; it != end; ++it) out << (*it)[1] << ';';
    std::wstring wtext = L"x: y, z: w";
    int wcount = std::distance(std::wsregex_iterator(wtext.begin(), wtext.end(), wwords), std::wsregex_iterator());
    auto si = [](int i) { return std::to_string(i * 7919 % 1000); };
    auto ii = [](int i) { return i * 31 % 977; };
    auto di = [](int i) { return i * 0.5; };
    auto ll = [](int i) { return (long long)i * 1000003; };
    out << churn<std::string, int>(argc * 1000, si, ii) << churn<int, double>(argc * 1000, ii, di)
        << churn<long long, std::string>(argc * 500, ll, si) << churn<double, long long>(argc * 700, di, ll)
        << churn<std::string, std::string>(argc * 300, si, si) << churn<int, int>(argc * 900, ii, ii) << wcount;
    std::cout << out.str().size() << "\n";
    return std::regex_match(text, std::regex(argv[0])) ? 1 : 0;
}
"""


def build(kind: str, tmp: Path) -> str:
    """The batch binary `kind` (cxx or rust), built in `tmp`."""
    from realworld import RUST_PROGRAM, _debian_env

    if kind == "cxx":
        src, out = tmp / "templates.cc", tmp / "cxx-templates"
        src.write_text(CXX_PROGRAM)
        subprocess.run(["clang++-14", "-std=c++17", "-O2", "-g", "-fuse-ld=lld", str(src), "-o", str(out)],
                       check=True, capture_output=True)
        return str(out)
    src, out = tmp / "churn.rs", tmp / "rust-g"
    src.write_text(RUST_PROGRAM.replace("ROUNDS", "12"))
    subprocess.run(["/usr/bin/rustc", "-C", "opt-level=3", "-g", str(src), "-o", str(out)], check=True,
                   capture_output=True, env=_debian_env(tmp))
    return str(out)


def instruction_addresses(obj: str, count: int) -> list[int]:
    """`count` addresses at every Nth instruction of `obj`'s code (objdump -d), cycled if it has fewer."""
    listing = subprocess.run(["objdump", "-d", "--no-show-raw-insn", obj], capture_output=True, text=True,
                             check=True).stdout
    found = [int(line.split(":", 1)[0], 16) for line in listing.splitlines()
             if line.startswith("  ") and ":\t" in line]
    step = max(1, len(found) // count)
    picked = found[::step][:count]
    return (picked * (count // len(picked) + 1))[:count]


def measure(obj: str, addresses: list[int], rounds: int, cold: bool) -> None:
    stdin = "".join(f"0x{a:x}\n" for a in addresses).encode()
    llvm = ["llvm-symbolizer", "--inlines", f"--obj={obj}"]
    ours = [UNWIND, "symbolize", "--inlines", f"--obj={obj}"]

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as warm_dir:
        env = dict(os.environ, UNWIND_CACHE_DIR=warm_dir)
        timed(ours, stdin, env)  # build the index once
        llvm_t, warm_t, cold_t = [], [], []
        for _ in range(rounds):
            llvm_t.append(timed(llvm, stdin, env))
            warm_t.append(timed(ours, stdin, env))
            if cold:
                with tempfile.TemporaryDirectory() as cold_dir:
                    cold_t.append(timed(ours, stdin, dict(os.environ, UNWIND_CACHE_DIR=cold_dir)))

    load_after = os.getloadavg()
    m_llvm, m_warm = statistics.median(llvm_t), statistics.median(warm_t)
    print(f"{len(addresses)} addresses of {obj}, {rounds} interleaved rounds, medians; "
          f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after ({os.cpu_count()} cores)")
    print(f"  llvm-symbolizer        {m_llvm:7.3f} s")
    print(f"  unwind (warm index)    {m_warm:7.3f} s   ratio {m_warm / m_llvm:.2f}x  (target <= 0.5x)")
    if cold:
        m_cold = statistics.median(cold_t)
        print(f"  unwind (cold, no index){m_cold:7.3f} s   ratio {m_cold / m_llvm:.2f}x  (target <= 8 s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--obj", default="/usr/bin/python3.11d")
    parser.add_argument("--count", type=int, help="addresses (default 3000, or 51,000 for --batch)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", action="append", choices=("cxx", "rust"),
                        help="a large batch of a binary built here instead of --obj (repeatable)")
    parser.add_argument("--cold", action="store_true", help="with --batch: cold runs too")
    args = parser.parse_args()

    if not args.batch:
        measure(args.obj, random_function_addresses(args.obj, args.count or 3000, seed=7), args.rounds, cold=True)
        return
    with tempfile.TemporaryDirectory(prefix="unwind-bench-") as tmp:
        for kind in args.batch:
            obj = build(kind, Path(tmp))
            measure(obj, instruction_addresses(obj, args.count or 51_000), args.rounds, cold=args.cold)


if __name__ == "__main__":
    main()
