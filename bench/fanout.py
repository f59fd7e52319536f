"""`unwind perf`'s process fan-out, three ways, on the same recording: one process (-j 1), unwind/fanout.py
(forked children render every Nth chunk of samples from their own copy of the reader and send back
bytes over a pipe), and concurrent.futures.ProcessPoolExecutor with fork (workers inherit the reader
at the same position, the parent submits chunk numbers, workers skip to them and return the bytes).

Each timed run is its own process (`--run WAY`), so no way inherits another's memos; all ways use the
same warm cache directory (symbol indexes, CFI tables). Rounds are interleaved, medians printed, with
the machine's load before and after. The output of every way is checked to be byte-identical.

Usage: .venv/bin/python bench/fanout.py PERF.DATA [--jobs 2] [--rounds 5]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WAYS = ("j1", "fanout", "pool")


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f} (1 min) {five:.2f} (5 min) on {os.cpu_count()} CPUs"


# ---- the concurrent.futures variant (what perf would use instead of unwind/fanout.py) ----------------

_WORKER: dict[str, Any] = {}  # in a pool worker only: its inherited chunk iterator and renderer


def _install(chunks: Iterator[Any], render: Callable[[Any], bytes]) -> None:
    _WORKER.update(chunks=enumerate(chunks), render=render)


def _render_at(k: int) -> bytes:
    for number, chunk in _WORKER["chunks"]:
        if number == k:
            data: bytes = _WORKER["render"](chunk)
            return data
    raise EOFError(f"chunk {k} past the end")


def pool_fan_out(chunks: Iterator[Any], render: Callable[[Any], bytes], workers: int) -> Iterator[bytes]:
    """fan_out's contract on a ProcessPoolExecutor: chunk k % workers == 0 here, the others in the pool."""
    import gc
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    gc.collect()
    gc.freeze()
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(workers - 1, mp_context=context, initializer=_install,
                             initargs=(chunks, render)) as pool:
        for future in [pool.submit(int, 0) for _ in range(workers - 1)]:  # fork them all before reading on
            future.result()
        pending: deque[Any] = deque()
        for k, chunk in enumerate(chunks):
            pending.append(chunk if k % workers == 0 else pool.submit(_render_at, k))
            while len(pending) > 2 * workers:
                item = pending.popleft()
                yield render(item) if isinstance(item, list) else item.result()
        while pending:
            item = pending.popleft()
            yield render(item) if isinstance(item, list) else item.result()


def run_one(way: str, path: str, jobs: int) -> None:
    """One timed run: the perf-script text of `path` to stdout's digest, the seconds on stderr."""
    start = time.perf_counter()
    sys.path.insert(0, str(ROOT))
    import unwind
    from unwind import pipeline
    from unwind.fanout import fan_out

    session = unwind.Session()
    run = session.perf(path, "dwarf", lines=False, progress=False)
    digest = hashlib.sha256()
    if way == "j1":
        pieces: Iterator[bytes] = run.render("perf-script", 1)
    else:
        render = pipeline._ChunkRenderer(run.pipeline, "perf-script")
        chunks = pipeline._batched(run.samples(), pipeline.CHUNK)
        spread = fan_out if way == "fanout" else pool_fan_out
        pieces = (data[:-pipeline._COUNT.size] for data in spread(chunks, render, jobs))
    for piece in pieces:
        digest.update(piece)
    print(digest.hexdigest())
    print(f"{time.perf_counter() - start:.4f}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("perf_data")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--run", choices=WAYS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        run_one(args.run, args.perf_data, args.jobs)
        return
    print(load())

    def timed(way: str) -> tuple[float, str]:
        done = subprocess.run([sys.executable, __file__, args.perf_data, "--jobs", str(args.jobs), "--run", way],
                              capture_output=True, text=True, check=True)
        return float(done.stderr.strip().splitlines()[-1]), done.stdout.strip()

    digests = {way: timed(way)[1] for way in WAYS}  # warm-up run of each (fills the cache directory)
    assert len(set(digests.values())) == 1, f"the ways disagree: {digests}"
    times: dict[str, list[float]] = {way: [] for way in WAYS}
    for _ in range(args.rounds):
        for way in WAYS:
            times[way].append(timed(way)[0])
    j1 = statistics.median(times["j1"])
    for way in WAYS:
        median = statistics.median(times[way])
        print(f"  {way:<7} median {median:7.3f} s  ({median / j1:.2f}x -j 1)  runs "
              + " ".join(f"{t:.3f}" for t in times[way]))
    print(load())


if __name__ == "__main__":
    main()
