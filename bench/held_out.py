#!/usr/bin/env python3
"""Recordings bench/perf.py does not make itself: other programs, read as a recording from another machine is.

Each program is built (where it is ours) and run inside a temporary directory that is deleted afterwards;
every file the recording has samples in (`perf buildid-list --with-hits`) is copied first to
OUT/symfs/<its path>, so both tools find the binaries only through `--symfs OUT/symfs`, as they would
for a recording copied from elsewhere.  Programs (tests/data/perf/record.py's and realworld.py's):

  gzip      Debian's gzip -6 over 6 MB of python3.11d
  cxx-lld   the std::sort/std::map C++ program, clang++-14 -O2 -g, linked by lld
  rust      the HashMap/BTreeMap churn program as a Cargo project, `cargo build --release` by Debian's
            cargo (offline, no dependencies), linked by lld
  git       Debian's git log -p over a 40-commit repository

`perf record -e cpu-clock -F FREQ --call-graph dwarf` (8 KiB stack copies): ~1,000-3,000 samples and
10-30 MiB each, too large to commit, so this script makes them (about a minute) and bench/perf.py reads them:

    .venv/bin/python bench/held_out.py /tmp/held-out
    .venv/bin/python bench/perf.py --kernel equal --held-out /tmp/held-out

Usage: .venv/bin/python bench/held_out.py OUT [--frequency 1000] [--program NAME ...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "data" / "perf"))

from realworld import RUST_PROGRAM, _debian_env, cxx, git  # noqa: E402
from record import record, workloads  # noqa: E402

PROGRAMS = ("gzip", "cxx-lld", "rust", "git")
CARGO_TOML = '[package]\nname = "churn"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n'


def cargo_release(tmp: Path, rounds: int = 12) -> list[str]:
    """The churn program as a Cargo project, built by Debian's cargo in release mode and linked by lld."""
    project = tmp / "churn"
    (project / "src").mkdir(parents=True, exist_ok=True)
    (project / "Cargo.toml").write_text(CARGO_TOML)
    (project / "src" / "main.rs").write_text(RUST_PROGRAM.replace("ROUNDS", str(rounds)))
    env = dict(_debian_env(tmp), CARGO_HOME=str(tmp / "cargo-home"), CARGO_TARGET_DIR=str(project / "target"),
               RUSTFLAGS="-C link-arg=-fuse-ld=lld")
    subprocess.run(["/usr/bin/cargo", "build", "--release", "--offline", "--quiet"], cwd=project, env=env,
                   check=True, capture_output=True)
    return [str(project / "target" / "release" / "churn")]


def program(tmp: Path, name: str) -> list[str]:
    if name == "gzip":
        return workloads(tmp)["gzip"]
    if name == "cxx-lld":
        return cxx(tmp, "lld")
    if name == "rust":
        return cargo_release(tmp)
    if name == "git":
        return git(tmp)
    raise SystemExit(f"held_out.py: unknown program {name!r} (one of {', '.join(PROGRAMS)})")


def files_with_hits(data: Path) -> list[str]:
    """Paths of the files the recording has samples in (the kernel and other pseudo files left out)."""
    listing = subprocess.run(["perf", "buildid-list", "-i", str(data), "--with-hits"], capture_output=True,
                             text=True, check=True).stdout
    paths = [line.split(None, 1)[1] for line in listing.splitlines() if len(line.split(None, 1)) == 2]
    return [p for p in paths if p.startswith("/") and os.path.isfile(p)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--frequency", type=int, default=1000)
    parser.add_argument("--program", action="append", choices=PROGRAMS, help="only these (repeatable)")
    args = parser.parse_args()
    symfs = args.out / "symfs"
    symfs.mkdir(parents=True, exist_ok=True)
    for name in args.program or PROGRAMS:
        with tempfile.TemporaryDirectory(prefix=f"held-out-{name}-") as tmp_name:
            tmp = Path(tmp_name)
            data = record(tmp, name, program(tmp, name), args.frequency)
            copied = files_with_hits(data)
            for path in copied:
                target = symfs / path.lstrip("/")
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
            shutil.move(str(data), args.out / data.name)
        size = (args.out / data.name).stat().st_size
        print(f"{args.out / data.name}: {size / 2**20:.1f} MiB; under symfs: {', '.join(copied)}")


if __name__ == "__main__":
    main()
