#!/usr/bin/env python3
"""`unwind symbolize --inlines --output-style=JSON` against llvm-symbolizer-14 on random addresses of any binaries.

For each FILE: `--count` addresses drawn (seeded) from its .text, both tools answer the same stdin, the JSON
lines are compared one by one; the first differing pairs are printed. For held-out checks on binaries built
by hand (other linkers, split DWARF, dwz, Rust, Go ...).

Usage: .venv/bin/python bench/symbolize_agreement.py FILE [FILE ...] [--count 1500] [--seed 7] [--show 2]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from formats.elf import ElfFile  # noqa: E402

UNWIND = str(Path(sys.executable).with_name("unwind"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+")
    parser.add_argument("--count", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--show", type=int, default=2)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    for path in args.files:
        text = ElfFile(path).section(".text")
        if text is None or not text.size:
            print(f"{path}: no .text")
            continue
        addrs = sorted(rng.sample(range(text.addr, text.addr + text.size), min(args.count, text.size)))
        stdin = "".join(f"0x{a:x}\n" for a in addrs)
        answers = {}
        for name, cmd in (("llvm", ["llvm-symbolizer-14"]), ("ours", [UNWIND, "symbolize"])):
            argv = [*cmd, "--obj", path, "--inlines", "--output-style=JSON"]
            answers[name] = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=True).stdout
        theirs, ours = answers["llvm"].splitlines(), answers["ours"].splitlines()
        same = sum(a == b for a, b in zip(theirs, ours))
        print(f"{path}: {same}/{len(addrs)} identical ({len(theirs)} and {len(ours)} lines)")
        for a, b in [(a, b) for a, b in zip(theirs, ours) if a != b][:args.show]:
            print(f"    llvm: {a[:300]}\n    ours: {b[:300]}")


if __name__ == "__main__":
    main()
