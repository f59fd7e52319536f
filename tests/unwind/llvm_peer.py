"""Compare our symbolizer with llvm-symbolizer on the same addresses (used by tests and bench/)."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from formats.elf import ElfFile
from formats.symtab import SymbolType, read_symbols


def objdump_addresses(binary: Path, every: int = 1) -> list[str]:
    """Every `every`-th instruction address objdump -d disassembles in `binary`, as `0x...` strings."""
    text = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(binary)], capture_output=True, text=True,
                          check=True).stdout
    return [f"0x{a}" for a in re.findall(r"^\s+([0-9a-f]+):", text, re.M)[::every]]


def run(argv: list[str], stdin: str | None = None, env: dict | None = None,
        cwd: Path | None = None) -> subprocess.CompletedProcess:
    """A command's completed process, text in and out (never raises on its exit status)."""
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, env=env, cwd=cwd)


def cache_env(cache_dir: Path) -> dict:
    """The environment our commands run in beside llvm-symbolizer: our own cache directory, and no
    LLVM_SYMBOLIZER_OPTS from the host that llvm-symbolizer would read (we read it too)."""
    env = dict(os.environ, UNWIND_CACHE_DIR=str(cache_dir))
    env.pop("LLVM_SYMBOLIZER_OPTS", None)
    return env


def random_function_addresses(elf_path: str, count: int, seed: int = 1) -> list[int]:
    """`count` addresses inside sized FUNC symbols of `elf_path` (or of its .symtab-bearing debug twin)."""
    symbols = read_symbols(ElfFile(elf_path), ".symtab") or read_symbols(ElfFile(elf_path), ".dynsym")
    funcs = sorted({(s.value, s.size) for s in symbols if s.type == SymbolType.FUNC and s.size > 1 and s.value})
    rng = random.Random(seed)
    return [start + rng.randrange(size) for start, size in (rng.choice(funcs) for _ in range(count))]


def llvm_frames(obj: str, addresses: list[int], extra: tuple[str, ...] = ()) -> list[list[dict]]:
    """llvm-symbolizer --inlines JSON frames per address."""
    out = subprocess.run(["llvm-symbolizer", "--inlines", "--output-style=JSON", f"--obj={obj}", *extra],
                         input="".join(f"0x{a:x}\n" for a in addresses), capture_output=True, text=True,
                         check=True).stdout
    return [json.loads(line)["Symbol"] for line in out.splitlines()]


@dataclass
class Agreement:
    total: int
    same: int
    differences: list[tuple[int, list[tuple], list[tuple]]]

    @property
    def rate(self) -> float:
        return self.same / self.total if self.total else 1.0


def _key(function, line, path) -> tuple:
    return (function or "", line or 0, os.path.basename(path) if path else "")


def compare(obj: str, addresses: list[int], ours: list[list], theirs: list[list[dict]]) -> Agreement:
    """Agreement on function name, line, file basename and inline depth, per address."""
    same, diffs = 0, []
    for address, mine, peer in zip(addresses, ours, theirs):
        a = [_key(f.symbol, f.line, f.file) for f in mine]
        b = [_key(f["FunctionName"], f["Line"], f["FileName"]) for f in peer]
        if a == b:
            same += 1
        else:
            diffs.append((address, a, b))
    return Agreement(len(addresses), same, diffs)
