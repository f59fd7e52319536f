"""Many recordings unwound, symbolised and merged into one profile on Dask (`unwind batch`).

1. Plan (on the client, cheap): inputs expanded (files, directories, globs); each perf.data's header
   read for its build-id table and host name; nothing else is decoded.
2. Shard by build-id: one `warm` task per binary builds its symbol index and CFI table into the shared
   cache directory, once; every input that maps the binary waits for it, then only loads the tables.
3. One task per input streams its samples through the unwinder and symbolizer and returns a partial
   profile (a Counter of (input, symbolised stack) -> samples), small and picklable.
4. Partial profiles are merged pairwise as they complete (a tree reduction), on the workers.

Dask is the only parallel mechanism: a `distributed.LocalCluster` sized to the machine (processes, one
thread each) by default, or a running `dask scheduler` by address. Dask retries a task whose worker
died, and recomputes lost results from their inputs, so a killed worker leaves the output unchanged.
The tasks and the worker plugin that owns each worker's `InputProfiler` live in unwind/batch_worker.py.
"""

from __future__ import annotations

import errno
import glob
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Iterable, Sequence

from .batch_inputs import BatchOptions, Failure, InputPlan, PartialProfile, input_kind, plan_input
from .errors import FileError, UsageError

if TYPE_CHECKING:
    from distributed import Client, Future, LocalCluster

    from formats.stack import Stack

    from formats.merged import Entry

STACK_SUFFIXES = (".stacks", ".folded", ".bt", ".txt")  # raw stack files a directory contributes
FAN_IN = 2  # partial profiles per merge task


@dataclass(frozen=True, slots=True)
class BatchResult:
    """The merged profile, the inputs it came from, and what went wrong where."""

    profile: PartialProfile
    inputs: tuple[InputPlan, ...]
    failures: tuple[Failure, ...]  # inputs skipped (planning and unwinding), with the reason
    seconds: float
    workers: int


def entries(result: BatchResult) -> list[Entry]:
    """The merged profile as writer entries (input label, stack, samples), in input order and then by
    stack, so that equal inputs give equal bytes whatever order the workers finished in."""
    from formats.merged import Entry

    by_index = {p.index: p for p in result.inputs}
    keyed = sorted(result.profile.stacks(), key=lambda item: (item[0], _stack_key(item[1])))
    return [Entry(by_index[index].path, by_index[index].host, stack, weight) for index, stack, weight in keyed]


def _stack_key(s: Stack) -> tuple[str, int, int, int, tuple[tuple[str, int], ...]]:
    return (s.comm or "", s.pid or 0, s.tid or 0, s.period, tuple((f.symbol or "", f.shown_addr) for f in s.frames))


def summary(result: BatchResult) -> list[str]:
    """What the run did and what went wrong, one line each (the command prints them on stderr)."""
    p = result.profile
    rate = p.samples / result.seconds if result.seconds else 0.0
    total = len(result.inputs) + len(result.failures) - len(p.failures)
    lines = [(f"{p.done - len(p.failures)} of {total} inputs merged, {p.samples} samples, {len(p.counts)} distinct "
              f"stacks in {result.seconds:.1f} s on {result.workers} workers ({rate:,.0f} samples/s)")]
    lines += [f"skipped {f.path}: {f.reason}" for f in sorted(result.failures, key=lambda f: f.path)]
    by_id: Counter[str] = Counter()
    modules: dict[str, str] = {}
    for (build_id, module), n in p.missing.items():
        key = build_id or module
        by_id[key] += n
        modules[key] = module
    lines += [f"binary not found: {modules[key]} (build-id {key if key != modules[key] else 'unknown'}): "
              f"{n} frames left [unknown]" for key, n in by_id.most_common()]
    return lines


def expand_inputs(patterns: Iterable[str]) -> list[str]:
    """Files as given, directories walked (perf.data files by their magic, stack files by suffix), globs
    expanded; each path once, in order. A missing path is a FileError, a glob matching nothing a UsageError."""
    out: dict[str, None] = {}
    for pattern in patterns:
        matches = sorted(glob.glob(pattern, recursive=True)) if glob.has_magic(pattern) else [pattern]
        if not glob.has_magic(pattern) and not os.path.exists(pattern):
            raise FileError(pattern, FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), pattern))
        if not matches:
            raise UsageError(f"{pattern}: no such file, directory or match")
        for match in matches:
            if os.path.isdir(match):
                out.update(dict.fromkeys(_walk(match)))
            else:
                out[match] = None
    return list(out)


def _walk(directory: str) -> Iterable[str]:
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            if name.endswith(STACK_SUFFIXES) or (not name.endswith((".truth.jsonl", ".maps")) and _is_perf(path)):
                yield path


def _is_perf(path: str) -> bool:
    try:
        return input_kind(path) == "perf"
    except OSError:
        return False


def plan(paths: Sequence[str]) -> tuple[list[InputPlan], list[Failure]]:
    """The first pass: every readable input's plan; the unreadable ones as failures."""
    from formats.errors import UnwindError

    plans: list[InputPlan] = []
    failures: list[Failure] = []
    for index, path in enumerate(paths):
        try:
            plans.append(plan_input(index, path))
        except UnwindError as exc:
            failures.append(Failure(path, str(exc)))
        except OSError as exc:
            failures.append(Failure(path, exc.strerror or str(exc)))
    return plans, failures


def shards(plans: Iterable[InputPlan]) -> dict[tuple[str, str], list[int]]:
    """(build-id, file name) -> the inputs that map it, most shared first."""
    by_id: dict[tuple[str, str], list[int]] = {}
    for p in plans:
        for key in p.build_ids:
            by_id.setdefault(key, []).append(p.index)
    return dict(sorted(by_id.items(), key=lambda item: -len(item[1])))


# ---- the client side ---------------------------------------------------------------------------


def run_batch(inputs: Iterable[str], options: BatchOptions | None = None, scheduler: str | None = None,
              workers: int | None = None, stream: IO[str] | None = None) -> BatchResult:
    """Plan, shard, unwind and merge `inputs` on Dask: a LocalCluster of `workers` processes (default:
    the usable CPUs) unless `scheduler` names a running one. Progress and the dashboard address go to
    `stream` (default stderr; the bar only when it is a terminal)."""
    stream = stream or sys.stderr
    options = options or BatchOptions()
    if options.unwinder.endswith("-stitched"):  # stitching needs one recording's samples in order, on one unwinder
        raise UsageError(f"unwind batch does not stitch (unwinder {options.unwinder!r}); use unwind perf --stitch")
    started = time.monotonic()
    plans, failures = plan(expand_inputs(inputs))
    client, cluster = _connect(scheduler, workers, stream)
    try:
        count = len(client.scheduler_info().get("workers", {}))
        profile = _run(client, plans, options, stream)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return BatchResult(profile, tuple(plans), tuple(failures) + profile.failures, time.monotonic() - started,
                       count)


def _connect(scheduler: str | None, workers: int | None, stream: IO[str]) -> tuple[Client, LocalCluster | None]:
    import logging

    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise UsageError("unwind batch needs Dask: pip install 'unwind[batch]' (dask[distributed])") from exc
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="20s")
        except OSError as exc:
            raise UsageError(f"--scheduler {scheduler}: cannot connect ({exc})") from exc
        cluster = None
    else:
        from .fanout import usable_cpus

        cluster = LocalCluster(n_workers=workers or usable_cpus(), threads_per_worker=1, processes=True,
                               dashboard_address=":0", worker_dashboard_address=None,
                               silence_logs=logging.ERROR)
        client = Client(cluster)
    from .batch_worker import PLUGIN, ProfilerPlugin

    client.register_plugin(ProfilerPlugin(), name=PLUGIN)
    link = client.dashboard_link if _has_dashboard(client) else None
    if link:
        print(f"unwind batch: Dask dashboard at {link}", file=stream)
    return client, cluster


def _has_dashboard(client: Client) -> bool:
    """Whether the scheduler serves Dask's dashboard (its pages need bokeh on the scheduler's side)."""
    from importlib.util import find_spec

    services = client.scheduler_info().get("services", {})
    return "dashboard" in services and (find_spec("bokeh") is not None or client.cluster is None)


def _run(client: Client, plans: list[InputPlan], options: BatchOptions, stream: IO[str]) -> PartialProfile:
    from distributed import as_completed

    from .batch_worker import merge_task, profile_task, samples_task, warm_task

    if not plans:
        return PartialProfile()
    warm = {key: client.submit(warm_task, options, *key, priority=10, pure=False) for key in shards(plans)}
    inputs = [client.submit(profile_task, options, p, *(warm[k] for k in p.build_ids), pure=False)
              for p in plans]
    bar = _Progress(stream, len(inputs)) if stream.isatty() else None
    counts = [client.submit(samples_task, f, pure=False) for f in inputs] if bar is not None else []
    counted = {f.key for f in counts}
    done = as_completed(inputs + counts)
    pending: list[Future[Any]] = []
    for future in done:
        if bar is not None and future.key in counted:  # counted is empty without a bar
            bar.add(future.result())
            continue
        pending.append(future)
        if len(pending) == FAN_IN:
            done.add(client.submit(merge_task, *pending, pure=False))
            pending = []
    if bar is not None:
        bar.close()
    final = pending[0] if len(pending) == 1 else client.submit(merge_task, *pending, pure=False)
    merged: PartialProfile = final.result()
    return merged


class _Progress:
    """`unwind batch: [####   ] done/total inputs, N samples/s` on a terminal."""

    def __init__(self, stream: IO[str], total: int) -> None:
        self.stream, self.total, self.done, self.samples = stream, total, 0, 0
        self.started = time.monotonic()

    def add(self, samples: int) -> None:
        self.done += 1
        self.samples += samples
        rate = self.samples / max(time.monotonic() - self.started, 1e-9)
        filled = 30 * self.done // max(self.total, 1)
        self.stream.write(f"\runwind batch [{'#' * filled}{' ' * (30 - filled)}] {self.done}/{self.total} inputs, "
                          f"{rate:,.0f} samples/s")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()
