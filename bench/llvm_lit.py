"""LLVM's own llvm-symbolizer lit tests, RUN line by RUN line: llvm-symbolizer 14 against `unwind symbolize`.

Each test file's RUN lines (continuations joined, lit's %s %S %p %t %T %/t ... substituted, tools taken
from /usr/lib/llvm-14/bin) run as one shell script, as lit runs them, in a fresh Output directory: the
preparation lines (llvm-mc, yaml2obj, llvm-ar, split-file, ...) as written, and each line that runs
llvm-symbolizer up to and including its llvm-symbolizer stage (the FileCheck after it is cut off), its
stdout, stderr, exit status and any file it redirects into kept.  The script runs twice in the same
directory: once with `llvm-symbolizer` meaning llvm-symbolizer 14, once meaning `unwind symbolize`
(a wrapper script of that name, so the tool name in messages can match).  A line is identical when
all it produced is identical (tool names normalised).

Not compared, counted apart: llvm-addr2line lines (a different tool), lines whose input is a binary
file of LLVM's Inputs/ that is not in the cache ("input not available": the stored index holds text
only), and lines whose object is not an x86-64 ELF file ("other target": XCOFF, wasm, PDB/COFF,
GSYM, Mach-O, ELF of another machine; `--all-elf` compares ELF objects of every machine too).

    .venv/bin/python bench/llvm_lit.py [--cache DIR] [--show N] [--all-elf] [FILE ...]

The test files are LLVM's (Apache-2.0 WITH LLVM-exception), read into $UNWIND_TEST_CACHE/llvm-lit
(default ~/.cache/unwind-tests/llvm-lit/<path in llvm-project>), never into the repository.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

CACHE = Path(os.environ.get("UNWIND_TEST_CACHE", Path.home() / ".cache" / "unwind-tests")) / "llvm-lit"
LLVM_BIN = Path("/usr/lib/llvm-14/bin")
UNWIND = Path(sys.executable).with_name("unwind")
SUFFIXES = (".test", ".s", ".ll", ".yaml")
ERRC = {"ENOENT": "No such file or directory", "EISDIR": "Is a directory", "EACCES": "Permission denied",
        "EINVAL": "Invalid argument"}
TIMEOUT = 600


@dataclass
class Line:
    """One RUN line (continuations joined) of a test file, before and after substitution."""

    number: int  # 1-based line number of its first RUN:
    raw: str
    command: str = ""
    kind: str = "prep"  # prep | symbolizer | addr2line
    stage: str = ""  # the pipeline up to and including the llvm-symbolizer stage
    redirects: list[str] = field(default_factory=list)


def run_lines(text: str) -> list[Line]:
    """RUN: lines with `\\` continuations joined, as lit's parser does."""
    lines: list[Line] = []
    pending: Line | None = None
    for number, source in enumerate(text.splitlines(), 1):
        found = re.search(r"\bRUN:(.*)$", source)
        if not found:
            continue
        body = found.group(1).rstrip()
        if pending is not None:
            pending.raw += " " + body.strip()
        else:
            pending = Line(number, body.strip())
        if pending.raw.endswith("\\"):
            pending.raw = pending.raw[:-1].rstrip()
            continue
        lines.append(pending)
        pending = None
    if pending is not None:
        lines.append(pending)
    return lines


def substitute(command: str, source: Path, tmp: Path) -> str:
    """lit's substitutions for the ones these tests use."""
    subs = [("%{pathsep}", ":"), ("%python", "python3"), ("%/s", str(source)), ("%/S", str(source.parent)),
            ("%/p", str(source.parent)), ("%/t", str(tmp)), ("%/T", str(tmp.parent)), ("%s", str(source)),
            ("%S", str(source.parent)), ("%p", str(source.parent)), ("%t", str(tmp)), ("%T", str(tmp.parent))]
    command = re.sub(r"%errc_(\w+)", lambda m: ERRC.get(m.group(1), m.group(0)), command)
    out, i = [], 0
    while i < len(command):
        if command.startswith("%%", i):
            out.append("%")
            i += 2
            continue
        for key, value in subs:
            if command.startswith(key, i):
                out.append(value)
                i += len(key)
                break
        else:
            out.append(command[i])
            i += 1
    return "".join(out)


def split_pipeline(command: str) -> list[str]:
    """The stages of a shell pipeline: `|` outside quotes, not `||`."""
    stages, current, quote, i = [], [], "", 0
    while i < len(command):
        c = command[i]
        if quote:
            if c == "\\" and quote == '"' and i + 1 < len(command):
                current.append(command[i:i + 2])
                i += 2
                continue
            if c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c == "\\" and i + 1 < len(command):
            current.append(command[i:i + 2])
            i += 2
            continue
        elif c == "|" and command[i + 1:i + 2] != "|" and (not current or current[-1] != "|"):
            stages.append("".join(current))
            current = []
            i += 1
            continue
        current.append(c)
        i += 1
    stages.append("".join(current))
    return stages


def stage_tool(stage: str) -> str:
    """The program a pipeline stage runs, past `not`, `env VAR=...` and `&&`-chained commands."""
    words = re.split(r"\s+", stage.split("&&")[-1].strip())
    while words and (words[0] in ("not", "env", "--crash") or re.match(r"^[A-Za-z_]\w*=", words[0])
                     or words[0].startswith("-u")):
        if words[0] == "env" and len(words) > 1 and "=" in words[1] and words[1].startswith(("'", '"')):
            pass
        words = words[1:]
    return words[0] if words else ""


def classify(line: Line) -> None:
    stages = split_pipeline(line.command)
    tools = [stage_tool(s) for s in stages]
    if "env" in line.command and "LLVM_SYMBOLIZER_OPTS" in line.command:
        tools = [re.sub(r"^.*'\s*", "", t) for t in tools]
    for name, kind in (("llvm-symbolizer", "symbolizer"), ("llvm-addr2line", "addr2line")):
        hits = [i for i, t in enumerate(tools) if t == name or t.endswith("' " + name)]
        if not hits:
            hits = [i for i, s in enumerate(stages) if re.search(rf"(^|[\s'\"]){name}(\s|$)", s)]
        if hits:
            line.kind = kind
            line.stage = "|".join(stages[:hits[-1] + 1]).strip()
            line.redirects = [m for m in re.findall(r"(?<![&\d<])\d?>\s*([^\s&|;]+)", line.stage)]
            return


def script(lines: list[Line], out: Path, workdir: Path, compare_addr2line: bool) -> str:
    """The shell script that runs a test's lines in order, keeping what each compared line produced."""
    parts = ["set -o pipefail", f"cd {shlex.quote(str(workdir))}"]
    for index, line in enumerate(lines):
        if line.kind == "symbolizer" or (line.kind == "addr2line" and compare_addr2line):
            o = shlex.quote(str(out / str(index)))
            parts.append(f"pwd > {o}.cwd")
            parts.append(f"( {line.stage}\n) > {o}.out 2> {o}.err < /dev/null; echo $? > {o}.rc")
            for k, target in enumerate(line.redirects):
                parts.append(f"cat {target} > {o}.r{k} 2>/dev/null")
        else:
            parts.append(f"{{ {line.command}\n}} > /dev/null 2>&1 < /dev/null")
    return "\n".join(parts) + "\n"


def wrappers(directory: Path, ours: bool) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    target = f'exec {shlex.quote(str(UNWIND))} symbolize "$@"' if ours else \
        f'exec -a llvm-symbolizer {LLVM_BIN}/llvm-symbolizer "$@"'
    (directory / "llvm-symbolizer").write_text(f"#!/bin/bash\n{target}\n")
    (directory / "llvm-symbolizer").chmod(0o755)
    (directory / "llvm-addr2line").write_text(f'#!/bin/bash\nexec -a llvm-addr2line {LLVM_BIN}/llvm-addr2line "$@"\n')
    (directory / "llvm-addr2line").chmod(0o755)
    for tool in ("clang", "clang++"):  # the tests' compiler is LLVM's own
        (directory / tool).write_text(f'#!/bin/bash\nexec {LLVM_BIN}/{tool} "$@"\n')
        (directory / tool).chmod(0o755)


def run_variant(lines: list[Line], workdir: Path, out: Path, ours: bool, compare_addr2line: bool) -> None:
    shutil.rmtree(workdir.parent, ignore_errors=True)
    workdir.mkdir(parents=True)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    bindir = out.parent / ("bin-ours" if ours else "bin-llvm")
    wrappers(bindir, ours)
    env = dict(os.environ, PATH=f"{bindir}:{LLVM_BIN}:/usr/bin:/bin", LC_ALL="C.UTF-8",
               UNWIND_CACHE_DIR=str(out.parent / "index"))
    env.pop("DEBUGINFOD_URLS", None)
    env.pop("LLVM_SYMBOLIZER_OPTS", None)
    try:
        subprocess.run(["bash", "-c", script(lines, out, workdir, compare_addr2line)], env=env, cwd=workdir,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        pass


def produced(out: Path, index: int) -> dict[str, str]:
    """What a compared line produced: stdout, stderr, status and redirected files, tool names normalised."""
    found = {}
    for part in sorted(out.glob(f"{index}.*")):
        if part.suffix == ".cwd":
            continue
        text = part.read_bytes().decode("utf-8", "surrogateescape")
        text = text.replace(str(UNWIND), "llvm-symbolizer").replace(str(LLVM_BIN) + "/", "")
        text = re.sub(r"\bllvm-symbolizer-14\b", "llvm-symbolizer", text)
        found[part.suffix] = text
    return found


MAGICS = [(b"\x7fELF", "elf"), (b"!<arch>\n", "archive"), (b"<bigaf>\n", "other"), (b"\0asm", "other"),
          (b"\x01\xdf", "other"), (b"\x01\xf7", "other"), (b"MZ", "other"), (b"Microsoft C/C++", "other"),
          (b"GSYM", "other"), (b"MYSG", "other"), (b"\xcf\xfa\xed\xfe", "other"), (b"\xce\xfa\xed\xfe", "other"),
          (b"\xca\xfe\xba\xbe", "other"), (b"\x64\x86", "other")]


def object_kind(path: Path) -> str:
    """x86 (x86-64 ELF, or an archive of them), other (another format or machine), or text."""
    try:
        head = path.read_bytes()[:4096]
    except OSError:
        return "text"
    for magic, kind in MAGICS:
        if head.startswith(magic):
            if kind == "elf":
                return "x86" if len(head) > 20 and head[18:20] in (b"\x3e\x00", b"\x03\x00") else "elf-other"
            if kind == "archive":
                return archive_kind(path.read_bytes())
            return kind
    return "text"


def archive_kind(data: bytes) -> str:
    offset = 8
    while offset + 60 <= len(data):
        name, size = data[offset:offset + 16].strip(), int(data[offset + 48:offset + 58].strip() or 0)
        body = data[offset + 60:offset + 60 + size]
        if name not in (b"/", b"//", b"/SYM64/"):
            with tempfile.NamedTemporaryFile() as member:
                member.write(body[:4096])
                member.flush()
                return object_kind(Path(member.name))
        offset += 60 + size + (size & 1)
    return "text"


NON_X86 = re.compile(r"--- !(XCOFF|WASM|COFF|mach-o|minidump)\b|(triple|target)[= ]+\"?(wasm|powerpc|ppc|aarch64|arm|"
                     r"\S*-aix|\S*-windows|\S*-darwin)|\.pdb\b|\.gsym\b|\.wasm\b")
X86_ELF = re.compile(r"--- !ELF[\s\S]*?Machine:\s+EM_X86_64|(triple|target)[= ]+x86_64-\S*linux|\.elf-x86-64|"
                     r"triple[= ]+x86_64-(unknown-unknown|pc-linux|linux)")


# ELF objects of other machines a test builds (with --all-elf these are compared too).
ELF_OTHER = re.compile(r"--- !ELF|triple[= ]+\"?(aarch64|arm|thumb|riscv|mips|ppc|powerpc|s390|sparc)")


def declares_other_target(text: str) -> bool:
    """The test builds its objects for another format or machine only (its YAML documents, triples, inputs)."""
    return bool(NON_X86.search(text)) and not X86_ELF.search(text)


DELIBERATELY_MISSING = re.compile(r"nonexist|not\.exist|no-file|missing|does-not-exist")


def line_inputs(line: Line, cwd: Path, source: Path) -> tuple[list[Path], list[Path]]:
    """(existing object files, missing files of LLVM's Inputs/) a symbolizer line names."""
    try:
        words = shlex.split(line.stage.replace("|", " "), posix=True)
    except ValueError:
        words = line.stage.split()
    present, missing = [], []
    for word in words:
        if word.startswith("--debug-file-directory=") and word.endswith("/Inputs"):
            missing.append(Path(word.split("=", 1)[1]))  # its .build-id tree holds binaries: not in the cache
            continue
        for value in re.split(r"[\s=]", word):
            if str(source.parent) in value:  # a path glued to a flag group: -apCie/path/Inputs/addr.exe
                value = value[value.index(str(source.parent)):]
            value = re.sub(r"\(.*\)(:\w+)?$", "", value).strip("'\"<@")
            if not value or value.startswith("-") and not value.startswith("-e/"):
                continue
            path = Path(value) if os.path.isabs(value) else cwd / value
            if path.is_file():
                present.append(path)
            elif "/Inputs/" in value and str(source.parent) in value and not path.exists() \
                    and not DELIBERATELY_MISSING.search(value):
                missing.append(path)
    return present, missing


@dataclass
class FileResult:
    name: str
    counts: Counter
    diffs: list[str]


def compare_file(source: Path, root: Path, compare_addr2line: bool, all_elf: bool = False) -> FileResult:
    text = source.read_text(errors="surrogateescape")
    lines = run_lines(text)
    base = root / source.name
    workdir = base / "work" / "Output"
    tmp = workdir / (source.name + ".tmp")
    for line in lines:
        line.command = substitute(line.raw, source, tmp)
        classify(line)
    counts: Counter = Counter()
    diffs: list[str] = []
    run_variant(lines, workdir, base / "llvm", ours=False, compare_addr2line=compare_addr2line)
    kinds: dict[int, str] = {}
    # A preparation line that copies or strips a binary of Inputs/ we do not have: what it would have made
    # is missing too, so a later line that finds no object file lacks its input as well.
    derived_missing = False
    for index, line in enumerate(lines):
        if line.kind == "prep":
            line.stage = line.command
            derived_missing = derived_missing or bool(line_inputs(line, workdir, source)[1])
            continue
        if line.kind == "addr2line" and not compare_addr2line:
            counts["llvm-addr2line"] += 1
            continue
        cwd_file = base / "llvm" / f"{index}.cwd"
        cwd = Path(cwd_file.read_text().strip()) if cwd_file.exists() else workdir
        present, missing = line_inputs(line, cwd, source)
        objects = [object_kind(p) for p in present]
        if missing or (derived_missing and not present):
            kinds[index] = "input not available"
        elif "other" in objects or (not all_elf and "elf-other" in objects) or (
                not present and declares_other_target(text) and not (all_elf and ELF_OTHER.search(text))):
            kinds[index] = "other target"
        else:
            kinds[index] = "compared"
    run_variant(lines, workdir, base / "ours", ours=True, compare_addr2line=compare_addr2line)
    for index, kind in kinds.items():
        if kind != "compared":
            counts[kind] += 1
            continue
        theirs, ours = produced(base / "llvm", index), produced(base / "ours", index)
        counts["compared"] += 1
        if theirs == ours:
            counts["identical"] += 1
            if "unknown argument" in theirs.get(".err", "") + theirs.get(".out", ""):
                counts["identical, option unknown to llvm-symbolizer 14"] += 1
        else:
            line = lines[index]
            detail = [f"{source.name}:{line.number}: RUN: {line.raw}"]
            for part in sorted(set(theirs) | set(ours)):
                if theirs.get(part) != ours.get(part):
                    detail.append(f"  {part[1:]} llvm: {theirs.get(part)!r}\n  {part[1:]} ours: {ours.get(part)!r}")
            diffs.append("\n".join(detail))
    return FileResult(source.name, counts, diffs)


def test_files(cache: Path) -> list[Path]:
    return sorted(p for p in cache.rglob("*") if p.is_file() and p.suffix in SUFFIXES and "Inputs" not in p.parts
                  and "RUN:" in p.read_text(errors="replace"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=CACHE, help="where LLVM's test files were read into")
    parser.add_argument("--show", type=int, default=0, metavar="N", help="print the first N differences")
    parser.add_argument("--addr2line", action="store_true", help="also compare llvm-addr2line lines (ours has none)")
    parser.add_argument("--all-elf", action="store_true",
                        help="also compare lines whose object is an ELF file of another machine (ARM, AArch64, ...)")
    parser.add_argument("files", nargs="*", type=Path, help="test files (default: every one in the cache)")
    args = parser.parse_args()
    files = args.files or test_files(args.cache)
    total: Counter = Counter()
    diffs: list[str] = []
    print(f"{'test file':52} {'same/compared':>13} {'addr2line':>9} {'no input':>8} {'other':>5}")
    with tempfile.TemporaryDirectory(prefix="llvm-lit-") as root:
        for source in files:
            result = compare_file(source.resolve(), Path(root), args.addr2line, args.all_elf)
            c = result.counts
            total.update(c)
            diffs += result.diffs
            rel = str(source.resolve().relative_to(args.cache.resolve())) if source.resolve().is_relative_to(
                args.cache.resolve()) else source.name
            rel = rel.removeprefix("llvm/test/")
            print(f"{rel:52} {c['identical']:>6}/{c['compared']:<6} {c['llvm-addr2line']:>9} "
                  f"{c['input not available']:>8} {c['other target']:>5}")
    share = total["identical"] / total["compared"] if total["compared"] else 0.0
    print(f"\n{len(files)} files: {total['identical']} of {total['compared']} compared RUN lines identical "
          f"({share:.1%}); not compared: {total['llvm-addr2line']} llvm-addr2line, "
          f"{total['input not available']} input not available, {total['other target']} other target")
    print(f"of the identical lines, {total['identical, option unknown to llvm-symbolizer 14']} pass an option "
          "newer than llvm-symbolizer 14, which both tools reject with the same message")
    for diff in diffs[:args.show]:
        print("\n" + diff)


if __name__ == "__main__":
    main()
