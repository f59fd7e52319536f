#!/usr/bin/env python3
"""`unwind batch` on Dask against the same work done file by file with `unwind perf`, in one run.

Makes N simulated recordings (`unwind simulate`, the corpus programs in turn, different seeds; cached
in --work), then times, with --format folded:

- file by file: `unwind perf FILE --format folded` for every recording, one after another (warm cache);
- `unwind batch` on a LocalCluster of 1 and of 2 worker processes (warm cache), each checked to equal
  the summed single-file outputs;
- `unwind batch` with 2 workers into an empty cache directory (cold): the difference to the warm run,
  over the number of distinct build-ids, is the cost of building one binary's index and CFI table.

Prints recordings/s and samples/s for each, the ratios, the cache size per build-id and the workers'
resident memory (measured in a LocalCluster the bench starts and points `--scheduler` at).

Usage: .venv/bin/python bench/batch.py [--recordings 62] [--samples 4000] [--work DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UNWIND = [sys.executable, "-m", "unwind"]
PROGRAMS = [f"{name}-{flavour}" for name in ("deeprec", "exceptions", "frames", "interp", "libcalls", "nonlocal",
                                            "pool", "recursion", "siginfo", "sysprobe", "threads")
            for flavour in ("glibc-dynamic-O2-fp", "glibc-dynamic-O2-nofp", "musl-static-O2-nofp")
            if (ROOT / "corpus" / "bin" / f"{name}-{flavour}").exists()]


def make(work: Path, count: int, samples: int) -> list[Path]:
    work.mkdir(parents=True, exist_ok=True)
    jobs = []
    for i in range(count):
        program = PROGRAMS[i % len(PROGRAMS)]
        out = work / f"{i:03d}-{program}.perf.data"
        if not out.exists():
            jobs.append([*UNWIND, "simulate", str(ROOT / "corpus" / "bin" / program), "--period", "40",
                         "--max-samples", str(samples), "--stack-size", "4096", "--seed", str(i), "-o", str(out)])
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda argv: subprocess.run(argv, check=True, capture_output=True), jobs))
    return sorted(work.glob("*.perf.data"))


def folded(text: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for line in text.splitlines():
        stack, _, n = line.rpartition(" ")
        counts[stack] += int(n)
    return counts


def file_by_file(paths: list[Path], env: dict[str, str]) -> tuple[float, Counter[str]]:
    total: Counter[str] = Counter()
    started = time.monotonic()
    for path in paths:
        out = subprocess.run([*UNWIND, "perf", str(path), "--format", "folded"], env=env, check=True,
                             capture_output=True, text=True).stdout
        total.update(folded(out))
    return time.monotonic() - started, total


def batch(paths: list[Path], env: dict[str, str], workers: int, out: Path,
          cache: Path | None = None) -> tuple[float, Counter[str], int]:
    """Seconds, the merged profile and the workers' summed resident memory after the run."""
    import logging

    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                      worker_dashboard_address=None, silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        argv = [*UNWIND, "batch", str(paths[0].parent), "--scheduler", cluster.scheduler_address, "--format",
                "folded", "-o", str(out)]
        if cache is not None:
            argv += ["--cache-dir", str(cache)]
        started = time.monotonic()
        subprocess.run(argv, env=env, check=True, capture_output=True)
        seconds = time.monotonic() - started

        def rss() -> int:
            import psutil

            return int(psutil.Process().memory_info().rss)

        memory = sum(client.run(rss).values())
    return seconds, folded(out.read_text()), memory


def build_ids(paths: list[Path]) -> int:
    sys.path.insert(0, str(ROOT))
    from unwind.batch import plan, shards

    return len(shards(plan([str(p) for p in paths])[0]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recordings", type=int, default=62, help="recordings (62 give 209k samples)")
    parser.add_argument("--samples", type=int, default=4000, help="samples per recording (at most)")
    parser.add_argument("--work", default=str(Path.home() / ".cache" / "unwind-bench" / "batch"))
    args = parser.parse_args()
    work = Path(args.work)
    paths = make(work / f"rec-{args.samples}", args.recordings, args.samples)[:args.recordings]
    warm = work / "warm-cache"
    env = dict(os.environ, UNWIND_CACHE_DIR=str(warm))
    ids = build_ids(paths)
    batch(paths, env, 2, work / "warm-up.folded")  # builds every index and CFI table into the warm cache
    per_file, expected = file_by_file(paths, env)
    samples = sum(expected.values())
    assert len(paths) >= 50 and samples >= 200_000 or args.recordings < 50, "too few recordings or samples"
    print(f"{len(paths)} recordings, {samples} samples, {ids} distinct binaries (build-ids), {os.cpu_count()} CPUs")
    rows = [("unwind perf, file by file", per_file, "")]
    for workers in (1, 2):
        seconds, merged, memory = batch(paths, env, workers, work / f"merged-{workers}.folded")
        assert merged == expected, f"batch with {workers} workers differs from the single-file outputs"
        rows.append((f"unwind batch, {workers} worker{'s' * (workers > 1)}, warm cache", seconds,
                     f"workers' RSS {memory / 2**20:.0f} MiB"))
    cold = work / "cold-cache"
    shutil.rmtree(cold, ignore_errors=True)
    cold_seconds, merged, memory = batch(paths, env, 2, work / "merged-cold.folded", cache=cold)
    assert merged == expected
    size = sum(f.stat().st_size for f in cold.rglob("*") if f.is_file())
    rows.append(("unwind batch, 2 workers, cold cache", cold_seconds, f"cache {size / 2**20:.1f} MiB"))
    print("| run | seconds | recordings/s | samples/s | vs file by file | note |")
    print("|---|---|---|---|---|---|")
    for name, seconds, note in rows:
        print(f"| {name} | {seconds:.1f} | {len(paths) / seconds:.2f} | {samples / seconds:,.0f} | "
              f"{per_file / seconds:.2f}x | {note} |")
    warm2 = rows[2][1]
    print(f"per sample (2 workers, warm): {warm2 / samples * 1e6:.0f} us of wall time; "
          f"per build-id (cold - warm, 2 workers): {(cold_seconds - warm2) / ids * 2:.2f} worker-seconds; "
          f"cache per build-id {size / ids / 2**20:.2f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
