#!/usr/bin/env python3
"""Build every corpus program in every configuration into corpus/bin/ (one script, deterministic names).

Name: <program>-<libc>-<link>-<opt>-<fp>, e.g. recursion-glibc-static-O2-nofp.
Static glibc binaries are ~0.8 MB each, so only two of their four opt/fp pairs are built.
<fp> = orc: no frame pointer, and the program's own objects get Linux ORC tables from objtool
(`objtool --orc file.o`, kbuild 6.1) before linking; the C library has none.
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE / "src"
BIN = HERE / "bin"
SAMPLES = HERE / "samples"
SYSROOT = HERE / "sysroot"  # pinned host files the emulated loader reads (etc/ld.so.cache)
# --capture: (binary, period, program args) recorded with `unwind simulate` into samples/NAME.perf.data
# (+ .truth.jsonl); about 40 samples each so the committed sets stay near 0.35 MB apiece.
CAPTURES = [
    ("recursion-glibc-dynamic-O2-nofp", 5700, []),
    ("nonlocal-glibc-dynamic-O2-fp", 2900, []),
    ("exceptions-glibc-dynamic-O2-nofp", 100000, []),
    ("libcalls-glibc-static-O2-nofp", 42000, []),
    ("frames-glibc-dynamic-O0-orc", 5300, []),
]

OPTS = {"O0": ["-O0"], "O2": ["-O2"]}
FPS = {"fp": ["-fno-omit-frame-pointer", "-mno-omit-leaf-frame-pointer"], "nofp": ["-fomit-frame-pointer"]}
# Keep the committed corpus small (a static glibc binary is ~0.8 MB): only the two most different opt/fp
# pairs, and only one of them for programs whose static build adds little.
STATIC_GLIBC = {("O0", "fp"), ("O2", "nofp")}
STATIC_GLIBC_ONLY = {"frames": ("O2", "nofp"), "libcalls": ("O2", "nofp"), "sysprobe": ("O2", "nofp"),
                     "siginfo": ("O0", "fp"), "threads": ("O0", "fp")}
# The deep-stack programs of the stitching work (issue 14): simulated at several stack-copy sizes by
# bench/stitch.py, so two builds each (frame pointers or not) are enough.
DEEP_ONLY = {"deeprec", "interp", "pool"}
DEEP_CONFIG = ("glibc", "dynamic", "O2")
OBJTOOL = "/usr/lib/linux-kbuild-6.1/tools/objtool/objtool"
ORC_CONFIGS = {("glibc", "dynamic", "O0"), ("glibc", "dynamic", "O2"), ("musl", "static", "O2")}


def compilers(source: Path) -> list[tuple[str, str]]:
    """(libc, compiler) pairs that can build `source`; musl-gcc has no C++ runtime."""
    if source.suffix == ".cpp":
        return [("glibc", "g++")]
    return [("glibc", "gcc"), ("musl", "musl-gcc")]


def configurations():
    for source in sorted(SRC.glob("*.c*")):
        for (libc, cc), link, opt, fp in itertools.product(compilers(source), ("static", "dynamic"), OPTS, FPS):
            if source.stem in DEEP_ONLY and (libc, link, opt) != DEEP_CONFIG:
                continue
            if libc == "glibc" and link == "static" and (opt, fp) not in STATIC_GLIBC:
                continue
            if libc == "glibc" and link == "static" and STATIC_GLIBC_ONLY.get(source.stem, (opt, fp)) != (opt, fp):
                continue
            name = f"{source.stem}-{libc}-{link}-{opt}-{fp}"
            flags = ["-g", *OPTS[opt], *FPS[fp], "-Wl,--build-id=sha1"]
            flags += ["-static"] if link == "static" else ["-pie", "-fPIE"]
            yield name, [[cc, *flags, "-o", str(BIN / name), str(source)]]
        for (libc, cc), link, opt in itertools.product(compilers(source), ("static", "dynamic"), OPTS):
            if (libc, link, opt) not in ORC_CONFIGS or source.stem in DEEP_ONLY:
                continue
            name = f"{source.stem}-{libc}-{link}-{opt}-orc"
            obj = str(BIN / f"{name}.o")
            link_flags = ["-static"] if link == "static" else ["-pie"]
            yield name, [[cc, "-g", *OPTS[opt], *FPS["nofp"], "-fPIE", "-c", "-o", obj, str(source)],
                         [OBJTOOL, "--orc", obj],
                         [cc, *link_flags, "-Wl,--build-id=sha1", "-o", str(BIN / name), obj],
                         ["rm", "-f", obj]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="print the names and exit")
    parser.add_argument("--only", help="build only names containing this text")
    parser.add_argument("--capture", action="store_true",
                        help="instead of building, record the sample sets with `unwind simulate` "
                             "(run with the project's .venv/bin/python)")
    args = parser.parse_args(argv)
    if args.capture:
        SAMPLES.mkdir(exist_ok=True)
        # The emulated loader reads /etc/ld.so.cache, which any apt-get install rewrites (and the samples
        # with it): the recording and tests/corpus/test_samples.py read a copy pinned under SYSROOT.
        (SYSROOT / "etc").mkdir(parents=True, exist_ok=True)
        shutil.copyfile("/etc/ld.so.cache", SYSROOT / "etc" / "ld.so.cache")
        for name, period, program_args in CAPTURES:
            # The recording names /corpus/bin/NAME, not this checkout's path: reproducible anywhere,
            # found again with --symfs <repository>.
            command = [sys.executable, "-m", "unwind", "simulate", str(BIN / name), "--period", str(period),
                       "--seed", "1", "--exec-path", f"/corpus/bin/{name}", "--symfs", str(SYSROOT),
                       "-o", str(SAMPLES / f"{name}.perf.data"), "--", *program_args]
            print(" ".join(command), flush=True)
            subprocess.run(command, check=True, cwd=HERE.parent, stdout=subprocess.DEVNULL)
        return 0
    BIN.mkdir(exist_ok=True)
    for name, commands in configurations():
        if args.only and args.only not in name:
            continue
        if args.list:
            print(name)
            continue
        for command in commands:
            print(" ".join(command), flush=True)
            subprocess.run(command, check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
