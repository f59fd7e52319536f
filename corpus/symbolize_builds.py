#!/usr/bin/env python3
"""Build held-out-style variants of the symbolisation programs and score `unwind` against llvm-symbolizer.

Programs (corpus/src/symbolize/): a C++ program with templates and inlining over two units, a C
program, a Rust crate (Debian's /usr/bin/rustc) and a Go program.  Variants: split DWARF (.dwo and
.dwp, DWARF 4 GNU and DWARF 5, gcc and clang), dwz, dwz -m and dwz -5 -m (one multifile shared by
three binaries),
zstd-compressed sections, -flto.  Each variant is answered by `unwind` and compared with
llvm-symbolizer's answer on the *reference* build of the same code (plain -g, nothing split,
compressed or rewritten) at the same function + offset: function, file, line, StartFileName and
inline depth must all agree.

    .venv/bin/python corpus/symbolize_builds.py [--out DIR] [--count N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

HERE = Path(__file__).resolve().parent
SRC = HERE / "src" / "symbolize"
sys.path.insert(0, str(HERE.parent))

CXX = ("shapes_main.cpp", "shapes_lib.cpp")
C = ("cprog_main.c", "cprog_lib.c")
REUSE: list[bool] = [False]  # --reuse: the builds under --out are already made
ENV = {**os.environ, "PATH": "/usr/bin:" + os.environ.get("PATH", "")}


class Variant(NamedTuple):
    name: str
    binary: Path  # what unwind is asked about
    reference: Path  # what llvm-symbolizer answers the reference from
    extra: tuple[str, ...] = ()  # extra unwind/llvm options (--dwp FILE)


def run(cmd: list[str], cwd: Path) -> None:
    if REUSE[0]:
        return
    subprocess.run(cmd, cwd=cwd, check=True, env=ENV, stdout=subprocess.DEVNULL, timeout=300)


def compile_c(out: Path, name: str, cc: str, sources: tuple[str, ...], flags: list[str],
              link: list[str] = ()) -> Path:
    """Compile each source into `out/name/` (objects and .dwo files stay there) and link `out/name/prog`."""
    work = out / name
    if REUSE[0]:
        return work / "prog"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    objects = []
    for source in sources:
        obj = work / (Path(source).stem + ".o")
        run([cc, *flags, "-c", "-I", str(SRC), "-o", str(obj), str(SRC / source)], work)
        objects.append(str(obj))
    run([cc, *flags, *link, "-Wl,--build-id=sha1", "-o", str(work / "prog"), *objects], work)
    return work / "prog"


def build(out: Path) -> list[Variant]:
    """Every variant with its reference; skipped (with a note) when a tool is missing."""
    variants: list[Variant] = []
    for cc, cxx, tag in (("gcc", "g++", "gcc"), ("clang-14", "clang++-14", "clang")):
        for lang, compiler, sources in (("cxx", cxx, CXX), ("c", cc, C)):
            base = ["-O2", "-g"]
            ref = compile_c(out, f"{lang}-{tag}-ref", compiler, sources, base)
            for dwarf in ("4", "5"):
                flags = [*base, f"-gdwarf-{dwarf}", "-gsplit-dwarf"]
                ref_v = compile_c(out, f"{lang}-{tag}-ref{dwarf}", compiler, sources, [*base, f"-gdwarf-{dwarf}"])
                split = compile_c(out, f"{lang}-{tag}-split{dwarf}", compiler, sources, flags)
                variants.append(Variant(f"{lang} {tag} split DWARF {dwarf} .dwo", split, ref_v))
                if tag == "gcc" and dwarf == "5":
                    # no packer here makes a GCC DWARF 5 .dwp: llvm-dwp-14 hangs on its .dwo files,
                    # binutils' dwp writes a package without .debug_info.dwo
                    continue
                packaged = compile_c(out, f"{lang}-{tag}-dwp{dwarf}", compiler, sources, flags)
                dwos = sorted(str(p) for p in packaged.parent.glob("*.dwo"))
                # llvm-dwp-14 hangs on GCC's DWARF 5 .dwo files: binutils' dwp packages GCC's
                packer = "dwp" if tag == "gcc" else "llvm-dwp-14"
                run([packer, "-o", str(packaged) + ".dwp", *dwos], packaged.parent)
                for dwo in dwos:
                    os.unlink(dwo)
                variants.append(Variant(f"{lang} {tag} split DWARF {dwarf} .dwp", packaged, ref_v))
            zstd = compile_c(out, f"{lang}-{tag}-zstd", compiler, sources, base)
            run(["objcopy", "--compress-debug-sections=zstd", str(zstd)], zstd.parent)
            variants.append(Variant(f"{lang} {tag} zstd sections", zstd, ref))
            lto = compile_c(out, f"{lang}-{tag}-lto", compiler, sources, [*base, "-flto"],
                            ["-fuse-ld=lld"] if tag == "clang" else [])
            variants.append(Variant(f"{lang} {tag} -flto", lto, lto))
        if tag == "gcc":
            for lang, compiler, sources in (("cxx", cxx, CXX), ("c", cc, C)):
                one = compile_c(out, f"{lang}-{tag}-dwz", compiler, sources, ["-O2", "-g"])
                run(["dwz", str(one)], one.parent)
                variants.append(Variant(f"{lang} {tag} dwz", one, out / f"{lang}-{tag}-ref" / "prog"))
            ref_o1 = compile_c(out, "cxx-gcc-refO1", cxx, CXX, ["-O1", "-g"])
            # one multifile shared by three binaries (two builds of the C++ program share its
            # headers' DIEs: inline origins, linkage names and declarations move into the multifile);
            # .gnu_debugaltlink + DW_FORM_GNU_ref_alt/strp_alt, and with -5 .debug_sup + ref_sup4/strp_sup
            for suffix, option in (("", ()), (" -5", ("-5",))):
                tag5 = suffix.strip().strip("-")
                first = compile_c(out, f"cxx-gcc-dwzm{tag5}", cxx, CXX, ["-O2", "-g"])
                other = compile_c(out, f"cxx-gcc-dwzmO1{tag5}", cxx, CXX, ["-O1", "-g"])
                second = compile_c(out, f"c-gcc-dwzm{tag5}", cc, C, ["-O2", "-g"])
                multi = out / f"dwzm{tag5}.multi"
                run(["dwz", *option, "-m", str(multi), "-M", str(multi), str(first), str(other), str(second)], out)
                variants.append(Variant(f"cxx gcc dwz{suffix} -m", first, out / "cxx-gcc-ref" / "prog"))
                variants.append(Variant(f"cxx gcc -O1 dwz{suffix} -m", other, ref_o1))
                variants.append(Variant(f"c gcc dwz{suffix} -m", second, out / "c-gcc-ref" / "prog"))
    if REUSE[0]:
        variants.append(Variant("rust (rustc -g -O)", out / "rust" / "prog", out / "rust" / "prog"))
        variants.append(Variant("go (compressed DWARF)", out / "go" / "prog", out / "go" / "ref"))
        return variants
    rust = out / "rust"
    shutil.rmtree(rust, ignore_errors=True)
    rust.mkdir()
    run(["/usr/bin/rustc", "-g", "-O", "-o", str(rust / "prog"), str(SRC / "rsprog.rs")], rust)
    variants.append(Variant("rust (rustc -g -O)", rust / "prog", rust / "prog"))
    go = out / "go"
    shutil.rmtree(go, ignore_errors=True)
    go.mkdir()
    gocache = {**ENV, "GOCACHE": str(out / "gocache"), "GOFLAGS": "-mod=mod", "GO111MODULE": "off"}
    subprocess.run(["go", "build", "-o", str(go / "prog"), str(SRC / "goprog.go")], cwd=go, check=True, env=gocache)
    subprocess.run(["go", "build", "-ldflags=-compressdwarf=false", "-o", str(go / "ref"), str(SRC / "goprog.go")],
                   cwd=go, check=True, env=gocache)
    variants.append(Variant("go (compressed DWARF)", go / "prog", go / "ref"))
    return variants


def function_offsets(path: Path, count: int, seed: int) -> list[tuple[str, int]]:
    """`count` (symbol, offset) pairs inside sized FUNC symbols of `path`."""
    from formats.elf import ElfFile
    from formats.symtab import SymbolType, read_symbols

    elf = ElfFile(str(path))
    symbols = read_symbols(elf, ".symtab") or read_symbols(elf, ".dynsym")
    funcs = sorted({(s.name, s.value, s.size) for s in symbols
                    if s.type == SymbolType.FUNC and s.size > 1 and s.value and s.name})
    rng = random.Random(seed)
    picks = (rng.choice(funcs) for _ in range(count))
    return [(name, rng.randrange(size)) for name, _, size in picks]


def addresses_in(path: Path, picks: list[tuple[str, int]]) -> list[int | None]:
    """The address of each (symbol, offset) in `path`, None when the symbol is missing or shorter there."""
    from formats.elf import ElfFile
    from formats.symtab import read_symbols

    elf = ElfFile(str(path))
    table = {s.name: (s.value, s.size) for s in read_symbols(elf, ".symtab") or read_symbols(elf, ".dynsym")}
    out: list[int | None] = []
    for name, offset in picks:
        found = table.get(name)
        out.append(found[0] + offset if found and offset < found[1] else None)
    return out


def llvm_json(obj: Path, addresses: list[int], extra: tuple[str, ...] = ()) -> list[list[dict]]:
    text = subprocess.run(["llvm-symbolizer", "--inlines", "--output-style=JSON", f"--obj={obj}", *extra],
                          input="".join(f"0x{a:x}\n" for a in addresses), capture_output=True, text=True,
                          check=True).stdout
    return [json.loads(line)["Symbol"] for line in text.splitlines()]


def ours_json(obj: Path, addresses: list[int], extra: tuple[str, ...] = ()) -> list[list[dict]]:
    text = subprocess.run([str(Path(sys.executable).parent / "unwind"), "symbolize", "--inlines",
                           "--output-style=JSON", f"--obj={obj}", *extra],
                          input="".join(f"0x{a:x}\n" for a in addresses), capture_output=True, text=True,
                          check=True).stdout
    return [json.loads(line)["Symbol"] for line in text.splitlines()]


def key(frames: list[dict]) -> list[tuple]:
    return [(f["FunctionName"], f["FileName"], f["Line"], f["StartFileName"]) for f in frames]


def score(variant: Variant, count: int, seed: int = 7) -> tuple[int, int, list]:
    picks = function_offsets(variant.reference, count, seed)
    ref_addrs = addresses_in(variant.reference, picks)
    var_addrs = addresses_in(variant.binary, picks)
    pairs = [(r, v) for r, v in zip(ref_addrs, var_addrs) if r is not None and v is not None]
    theirs = llvm_json(variant.reference, [r for r, _ in pairs])
    ours = ours_json(variant.binary, [v for _, v in pairs], variant.extra)
    diffs = [(hex(v), key(a), key(b)) for (_, v), a, b in zip(pairs, ours, theirs) if key(a) != key(b)]
    return len(pairs) - len(diffs), len(pairs), diffs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "unwind-symbolize-builds"))
    parser.add_argument("--count", type=int, default=1000, help="addresses per variant")
    parser.add_argument("--only", help="substring of the variant names to run")
    parser.add_argument("--reuse", action="store_true", help="score the builds already under --out")
    parser.add_argument("--show", type=int, default=3, help="differences printed per variant")
    args = parser.parse_args(argv)
    out = Path(args.out)
    REUSE[0] = args.reuse
    out.mkdir(parents=True, exist_ok=True)
    variants = build(out)
    print("| variant | agree | rate |")
    print("|---|---|---|")
    for variant in variants:
        if args.only and args.only not in variant.name:
            continue
        same, total, diffs = score(variant, args.count)
        print(f"| {variant.name} | {same} / {total} | {100 * same / max(total, 1):.2f} % |", flush=True)
        for diff in diffs[:args.show]:
            print("   ", diff, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
