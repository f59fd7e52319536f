"""The peers' own test fixtures through `unwind symbolize` and llvm-symbolizer 14: agreement per suite.

Suites (fetched with the project's `fetch` tool into /work/.mirror, or any git clone given by option):
  elfutils  tests/testfile*.bz2 of sourceware-org/elfutils, decompressed
  gimli     every file of gimli-rs/object-testfiles, and gimli-rs/addr2line's fixtures/
Only ELF64 little-endian x86-64 files are used (`--machine i386`: the ELFCLASS32 i386 files instead;
`--machine other`: every other ELF file, any class, byte order and machine).
Each file gets up to --per-file addresses (function
starts and middles from its symbol table, else points spread over its code sections); each address
is answered under five flag sets, and an answer agrees when our bytes equal llvm-symbolizer's.

    .venv/bin/python bench/peer_fixtures.py [--elfutils DIR] [--gimli DIR] [--addr2line DIR] [--spread K] [--diffs OUT]

Extracted fixtures live in $UNWIND_TEST_CACHE/peer-fixtures (default ~/.cache/unwind-tests/...),
never in the repository.
"""

from __future__ import annotations

import argparse
import bz2
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from formats.elf import EM_386, EM_X86_64, SHF_EXECINSTR, ElfFile, SectionType  # noqa: E402
from formats.errors import UnwindError  # noqa: E402
from formats.symtab import SymbolType, read_symbols  # noqa: E402

CACHE = Path(os.environ.get("UNWIND_TEST_CACHE", Path.home() / ".cache" / "unwind-tests")) / "peer-fixtures"
MIRRORS = Path("/work/.mirror")
FLAG_SETS = [[], ["--output-style=JSON"], ["--output-style=GNU", "-a", "-p", "-s"], ["--no-inlines"],
             ["--verbose"]]
SENTINEL = "SENTINEL_LINE"
UNWIND = [str(Path(sys.executable).with_name("unwind")), "symbolize"]


def git_files(repo: Path, prefix: str = "") -> list[str]:
    out = subprocess.run(["git", f"--git-dir={repo}", "ls-tree", "-r", "--name-only", "HEAD",
                          *([prefix] if prefix else [])],
                         capture_output=True, text=True, check=True).stdout
    return out.split()


def extract(repo: Path, suite: str, names: list[str], decompress: bool = False) -> list[Path]:
    """Files of `repo` (a bare git dir) copied into the cache, .bz2 ones decompressed."""
    out = []
    for name in names:
        target = CACHE / suite / name.replace("/", "__").removesuffix(".bz2")
        if not target.exists():
            shown = subprocess.run(["git", f"--git-dir={repo}", "show", f"HEAD:{name}"], capture_output=True)
            if shown.returncode:  # a snapshot may list a large file without holding it
                continue
            data = shown.stdout
            if decompress and name.endswith(".bz2"):
                data = bz2.decompress(data)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        out.append(target)
    return out


def elf_ident(path: Path) -> tuple[int, int, int] | None:
    """(ELF class, byte order, machine) of any ELF file, None for anything else."""
    head = path.read_bytes()[:20]
    if len(head) < 20 or head[:4] != b"\x7fELF" or head[5] not in (1, 2):
        return None
    return head[4], head[5], int.from_bytes(head[18:20], "little" if head[5] == 1 else "big")


MACHINES = {"x86_64": (2, 1, EM_X86_64), "i386": (1, 1, EM_386)}


def selected(path: Path, machine: str) -> bool:
    ident = elf_ident(path)
    if machine == "other":
        return ident is not None and ident not in MACHINES.values()
    return ident == MACHINES[machine]


def addresses(path: Path, limit: int, spread: int = 0) -> list[int]:
    """Function starts and middles from the symbol table, else points spread over the code sections;
    with `spread`, also that many points spread evenly over each code section (any instruction, inline
    or not, between functions), after the first `limit`."""
    try:
        elf = ElfFile(path)
        found: list[int] = []
        for table in (".symtab", ".dynsym"):
            for sym in read_symbols(elf, table):
                if sym.type == SymbolType.FUNC and sym.is_defined_in_section:
                    found += [sym.value, sym.value + sym.size // 2]
            if found:
                break
        code = [sec for sec in elf.sections if sec.flags & SHF_EXECINSTR and sec.type != SectionType.NOBITS
                and sec.size]
        if not found:
            for sec in code:
                found += [sec.addr + sec.size * k // 8 for k in range(8)]
    except UnwindError:
        return [0x1000]
    unique = sorted(set(found))
    step = max(1, len(unique) // limit)
    chosen = unique[::step][:limit]
    if spread:
        extra = {sec.addr + sec.size * k // spread for sec in code for k in range(spread)}
        chosen += sorted(extra - set(chosen))
    return chosen


def answers(argv: list[str], stdin: str, env: dict) -> list[str] | None:
    """The output split per address (a sentinel line after each), None on a crash or timeout."""
    try:
        done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=120, env=env,
                              errors="surrogateescape")
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        return None
    blocks, current = [], []
    for line in done.stdout.splitlines(keepends=True):
        if SENTINEL in line:
            blocks.append("".join(current))
            current = []
        else:
            current.append(line)
    return blocks


def compare(files: list[Path], per_file: int, env: dict, diffs: list[str], spread: int = 0) -> dict:
    counts = defaultdict(int)
    for path in files:
        addrs = addresses(path, per_file, spread)
        stdin = "".join(f"0x{a:x}\n{SENTINEL}\n" for a in addrs)
        counts["files"] += 1
        for flags in FLAG_SETS:
            theirs = answers(["llvm-symbolizer-14", f"--obj={path}", *flags], stdin, env)
            ours = answers([*UNWIND, f"--obj={path}", *flags], stdin, env)
            if theirs is None:
                counts["llvm_failed"] += len(addrs)
                continue
            counts["compared"] += len(addrs)
            if ours is None or len(ours) != len(theirs):
                diffs.append(f"{path.name} {' '.join(flags)}: we failed or printed a different number of answers")
                continue
            for address, a, b in zip(addrs, ours, theirs):
                if a == b:
                    counts["agree"] += 1
                else:
                    diffs.append(f"{path.name} 0x{address:x} {' '.join(flags)}\n  ours:   {a!r}\n  theirs: {b!r}")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elfutils", type=Path, default=MIRRORS / "sourceware-org+elfutils" / "repo")
    parser.add_argument("--gimli", type=Path, default=MIRRORS / "gimli-rs+object-testfiles" / "repo")
    parser.add_argument("--addr2line", type=Path, default=MIRRORS / "gimli-rs+addr2line" / "repo")
    parser.add_argument("--per-file", type=int, default=60, help="addresses per file (default 60)")
    parser.add_argument("--spread", type=int, default=0, metavar="K",
                        help="also K points spread evenly over each code section (held-out addresses; default 0)")
    parser.add_argument("--diffs", type=Path, help="write every differing answer here")
    parser.add_argument("--machine", choices=("x86_64", "i386", "other"), default="x86_64",
                        help="which files: ELF64 x86-64 (default), ELFCLASS32 i386, or every other ELF file")
    args = parser.parse_args()
    env = dict(os.environ, UNWIND_CACHE_DIR=str(CACHE / "index"))
    suites = {}
    if args.elfutils.exists():
        names = [n for n in git_files(args.elfutils, "tests/") if n.endswith(".bz2") and "/testfile" in n]
        suites["elfutils"] = extract(args.elfutils, "elfutils", names, decompress=True)
    gimli: list[Path] = []
    if args.gimli.exists():
        gimli += extract(args.gimli, "gimli", [n for n in git_files(args.gimli) if not n.endswith((".sh", ".md"))])
    if args.addr2line.exists():
        gimli += extract(args.addr2line, "addr2line", git_files(args.addr2line, "fixtures/"))
    if gimli:
        suites["gimli"] = gimli
    diffs: list[str] = []
    print(f"{'suite':10} {'ELF ' + args.machine + ' files':>17} {'answers':>8} {'agree':>8} {'rate':>8}"
          "   (five flag sets)")
    for suite, files in suites.items():
        elf = [f for f in files if selected(f, args.machine)]
        c = compare(elf, args.per_file, env, diffs, args.spread)
        rate = c["agree"] / c["compared"] if c["compared"] else 0.0
        print(f"{suite:10} {len(elf):>17} {c['compared']:>8} {c['agree']:>8} {rate:>8.2%}"
              + (f"   llvm-symbolizer failed on {c['llvm_failed']} answers" if c["llvm_failed"] else ""))
    if args.diffs:
        args.diffs.write_text("\n".join(diffs) + "\n")
        print(f"{len(diffs)} differences written to {args.diffs}")


if __name__ == "__main__":
    main()
