"""The worker side of `unwind batch` (unwind/batch.py): the tasks, and the plugin that owns each worker's
profilers. Imported only where Dask runs (it imports distributed)."""

from __future__ import annotations

from typing import Any

from distributed import get_worker
from distributed.diagnostics.plugin import WorkerPlugin

from .batch_inputs import BatchOptions, InputPlan, InputProfiler, PartialProfile

PLUGIN = "unwind-batch"
PROFILERS = 4  # option sets a worker keeps profilers for (a run uses one)


class ProfilerPlugin(WorkerPlugin):
    """Holds a worker's InputProfilers (its open ELF files, symbol indexes, CFI tables) for the worker's
    lifetime, one per option set."""

    name = PLUGIN

    def __init__(self) -> None:
        self._profilers: dict[BatchOptions, InputProfiler] = {}

    def setup(self, worker: Any) -> None:
        self._profilers = {}

    def teardown(self, worker: Any) -> None:
        self._profilers.clear()

    def profiler(self, options: BatchOptions) -> InputProfiler:
        found = self._profilers.get(options)
        if found is None:
            if len(self._profilers) >= PROFILERS:
                self._profilers.pop(next(iter(self._profilers)))
            found = self._profilers[options] = InputProfiler(options)
        return found


def _profiler(options: BatchOptions) -> InputProfiler:
    """This worker's profiler for `options` (a worker that joined without the plugin makes its own)."""
    plugin = get_worker().plugins.get(PLUGIN)
    if not isinstance(plugin, ProfilerPlugin):
        return InputProfiler(options)
    return plugin.profiler(options)


def warm_task(options: BatchOptions, build_id: str, filename: str) -> bool:
    """Build one binary's index and CFI table into the cache directory (False: binary not found)."""
    return _profiler(options).warm(build_id, filename)


def profile_task(options: BatchOptions, plan: InputPlan, *warmed: bool) -> PartialProfile:
    """One input's partial profile (`warmed` only orders this task after its binaries' warm tasks)."""
    return _profiler(options).profile(plan)


def merge_task(*parts: PartialProfile) -> PartialProfile:
    merged = parts[0]
    for part in parts[1:]:
        merged = merged.merge(part)
    return merged


def samples_task(part: PartialProfile) -> int:
    return part.samples
