#!/usr/bin/env python3
"""Whole-process wall time of `unwind perf --unwinder dwarf` against `perf script` on the same recording.

Both symbolise without inlines and print perf-script text. Interleaved runs, medians, the load
average printed before and after. Warm = our symbol index and CFI tables built (perf's own caches
are warm after its first run too); cold = a fresh, empty cache directory for us.

Kernel symbols, two ways (`--kernel`):
  own    as a user runs both: perf script parses /proc/kallsyms on every run (~0.1 s here), we
         read it from a per-boot cache;
  equal  both given the same empty kallsyms file (`--kallsyms EMPTY`), so neither pays for or
         skips kernel symbolisation: what remains is the per-recording and per-sample work.

Recordings: `--workload NAME` (repeatable) records on this machine (tests/data/perf/record.py's
and realworld.py's programs: python3.11, gzip, cxx-debug-libstdc++, rust-lld, cxx-clang-lld, git, ...);
`--perf-data FILE [--symfs DIR]` takes a recording made elsewhere, its binaries under DIR as perf
looks them up; `--held-out DIR` every recording bench/held_out.py made there (gzip, clang++/lld C++,
a cargo release binary, git), with DIR/symfs. `--sizes 100,1000,10000,100000` records python3.11 at
about those sample counts and fits time = a + b x samples (least squares) for both tools: a is the
fixed cost, b the per-sample one.

Usage: .venv/bin/python bench/perf.py [--tree OTHER_CHECKOUT ...]
           [--workload python3.11 ...] [--perf-data FILE [--symfs DIR]] [--held-out DIR]
           [--kernel own|equal|both] [--sizes N,N,...] [--rounds 5] [--frequency 1000] [--no-cold]
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
sys.path.insert(0, str(ROOT / "tests" / "data" / "perf"))

from realworld import realworld_workloads  # noqa: E402
from record import record, workloads  # noqa: E402

UNWIND = str(Path(sys.executable).with_name("unwind"))
PERF_FIELDS = "comm,pid,tid,time,ip,sym,dso"


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
    return time.perf_counter() - start


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f} (1 min) {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def commands(data: Path, kernel: str, empty: Path, symfs: str | None,
             trees: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """The command lines timed on one recording, by label; `trees`: other checkouts of unwind timed beside
    this one (their packages first on PYTHONPATH), to tell a change's cost from the machine's."""
    perf = ["perf", "script", "-i", str(data), "-F", PERF_FIELDS, "--no-inline"]
    ours = [UNWIND, "perf", str(data), "--unwinder", "dwarf"]
    if symfs:
        perf += ["--symfs", symfs]
        ours += ["--symfs", symfs]
    if kernel == "equal":
        perf += ["--kallsyms", str(empty)]
        ours += ["--kallsyms", str(empty)]
    argvs = {"perf script": perf, "unwind perf": ours, "unwind perf -j 1": [*ours, "--jobs", "1"]}
    for tree in trees:
        argvs[f"unwind perf @{Path(tree).name}"] = ["env", f"PYTHONPATH={tree}", sys.executable, "-m", "unwind",
                                                   *ours[1:]]
    return argvs


def measure(data: Path, kernel: str, rounds: int, tmp: Path, symfs: str | None, cold: bool,
            trees: tuple[str, ...] = ()) -> dict[str, float]:
    """Median seconds per label over `rounds` interleaved rounds (after one warm-up run of each)."""
    empty = tmp / "empty.kallsyms"
    empty.write_text("")
    argvs = commands(data, kernel, empty, symfs, trees)
    warm_env = dict(os.environ, UNWIND_CACHE_DIR=str(tmp / "warm"))
    # another tree's runs keep their own warm cache: its file formats may differ from ours
    envs = {label: dict(warm_env, UNWIND_CACHE_DIR=str(tmp / f"warm-{i}")) if "@" in label else warm_env
            for i, label in enumerate(argvs)}
    for label, argv in argvs.items():
        timed(argv, envs[label])
    times: dict[str, list[float]] = {label: [] for label in argvs}
    if cold:
        times["unwind perf (cold)"] = []
    for i in range(rounds):
        for label, argv in argvs.items():
            times[label].append(timed(argv, envs[label]))
        if cold:
            cold_env = dict(os.environ, UNWIND_CACHE_DIR=str(tmp / f"cold-{kernel}-{i}"))
            times["unwind perf (cold)"].append(timed(argvs["unwind perf"], cold_env))
    return {label: statistics.median(t) for label, t in times.items()}


def count_samples(data: Path, symfs: str | None) -> int:
    argv = ["perf", "script", "-i", str(data), "-F", "time"] + (["--symfs", symfs] if symfs else [])
    return sum(1 for line in subprocess.run(argv, capture_output=True, text=True).stdout.splitlines() if line.strip())


def report(data: Path, samples: int, kernel: str, medians: dict[str, float]) -> None:
    perf = medians["perf script"]
    print(f"{data.name}: {samples} samples, {data.stat().st_size / 2**20:.1f} MiB, kernel symbols {kernel}")
    for label, seconds in medians.items():
        ratio = "" if label == "perf script" else f"   ratio {seconds / perf:.2f}x"
        print(f"  {label:<22} {seconds:7.3f} s{ratio}")


def fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least-squares (a, b) of time = a + b * samples."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((x - mean_x) ** 2 for x, _ in points)
    b = sum((x - mean_x) * (y - mean_y) for x, y in points) / var if var else 0.0
    return mean_y - b * mean_x, b


def sized_recordings(tmp: Path, sizes: list[int], frequency: int) -> list[Path]:
    """python3.11 recorded at about each sample count (rounds scaled from a calibration run)."""
    calib = record(tmp, "python3.11", workloads(tmp, 4)["python3.11"], frequency)
    per_round = max(count_samples(calib, None) / 4, 1.0)
    out = []
    for size in sizes:
        rounds = max(1, round(size / per_round))
        sub = tmp / f"size-{size}"
        sub.mkdir(exist_ok=True)
        data = record(sub, "python3.11", workloads(sub, rounds)["python3.11"], frequency)
        out.append(data)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workload", action="append", default=[], help="record this program (repeatable)")
    parser.add_argument("--perf-data", action="append", default=[], help="an existing recording (repeatable)")
    parser.add_argument("--symfs", help="where the binaries of --perf-data recordings are (as perf --symfs)")
    parser.add_argument("--held-out", metavar="DIR", help="the recordings bench/held_out.py made in DIR")
    parser.add_argument("--kernel", choices=("own", "equal", "both"), default="both")
    parser.add_argument("--sizes", help="comma-separated sample counts: fit fixed and per-sample cost")
    parser.add_argument("--frequency", type=int, default=1000, help="perf record -F (default 1000)")
    parser.add_argument("--python-rounds", type=int, default=6, help="how long the python workloads run")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-cold", action="store_true", help="skip the cold-cache runs")
    parser.add_argument("--tree", action="append", default=[], metavar="DIR",
                        help="another checkout (e.g. a `git worktree` of an older commit) timed beside this one")
    args = parser.parse_args()
    kernels = ("own", "equal") if args.kernel == "both" else (args.kernel,)
    # An installed package has its .pyc files; a checkout edited since .ci/setup may not, which would
    # time the compiler instead of us.
    for tree in (ROOT, *map(Path, args.tree)):
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "unwind"), str(tree / "formats")],
                       stdout=subprocess.DEVNULL, check=True)
    print(load())
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        recordings: list[tuple[Path, str | None]] = [(Path(p), args.symfs) for p in args.perf_data]
        if args.held_out:
            held = Path(args.held_out)
            recordings += [(p, str(held / "symfs")) for p in sorted(held.glob("*.perf.data"))]
        names = args.workload or ([] if args.perf_data or args.held_out or args.sizes else ["python3.11"])
        if names:
            programs = {**workloads(tmp, args.python_rounds)}
            if any(name not in programs for name in names):
                programs.update(realworld_workloads(tmp))
            recordings += [(record(tmp, name, programs[name], args.frequency), None) for name in names]
        for data, symfs in recordings:
            samples = count_samples(data, symfs)
            for kernel in kernels:
                report(data, samples, kernel, measure(data, kernel, args.rounds, tmp, symfs, not args.no_cold,
                                                      tuple(args.tree)))
        if args.sizes:
            sizes = [int(s) for s in args.sizes.split(",")]
            sized = sized_recordings(tmp, sizes, args.frequency)
            for kernel in kernels:
                points: dict[str, list[tuple[int, float]]] = {}
                print(f"sizes, kernel symbols {kernel}:")
                for data in sized:
                    samples = count_samples(data, None)
                    medians = measure(data, kernel, args.rounds, tmp, None, cold=False)
                    perf = medians["perf script"]
                    print(f"  {samples:7d} samples  " + "  ".join(
                        f"{label} {seconds:.3f} s ({seconds / perf:.2f}x)" for label, seconds in medians.items()))
                    for label, seconds in medians.items():
                        points.setdefault(label, []).append((samples, seconds))
                for label, pts in points.items():
                    a, b = fit(pts)
                    print(f"  fit {label:<18} a = {a * 1000:7.1f} ms   b = {b * 1e6:6.2f} us/sample")
    print(load())


if __name__ == "__main__":
    main()
