"""Ordered fan-out over forked processes: render a stream of chunks on several cores, output in order.

After the fork every process holds its own copy of the chunk iterator at the same position, so no
chunk crosses a process boundary: chunk k goes to worker k % workers, and children send back only
rendered bytes. A chunk a failed child leaves behind is rendered here, so a crash costs time, never
output. `warmup` chunks rendered here first would fill caches the children inherit; measured, the
processes warming their own caches side by side finishes sooner (bench/perf.py), so the default is 0.

The project's one fork mechanism: `unwind perf` renders through `fan_out`, the index build decodes line
programs in a `forked` child while it scans the DIEs; `auto_workers` decides how many processes a run
gets. Why not concurrent.futures: NOTES.md, fan-out (bench/fanout.py).
"""

from __future__ import annotations

import gc
import os
import struct
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")

_FRAME = struct.Struct("<QQ")  # chunk number, byte length
_F_SETPIPE_SZ = 1031  # fcntl: a bigger pipe lets a child run further ahead


MAX_WORKERS = 4
SAMPLES_PER_WORKER = 1000  # each extra process must have this many samples to render (NOTES.md, fan-out)


def usable_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):  # Linux
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def free_cpus() -> float:
    """CPUs this process may use that other work does not keep busy: usable CPUs less the 1-minute load."""
    return usable_cpus() - os.getloadavg()[0]


def auto_workers(samples: int) -> int:
    """Processes worth forking for about `samples` samples: one more per free CPU besides the one this
    process runs on, while each extra one gets SAMPLES_PER_WORKER samples or more, at most MAX_WORKERS.
    On a busy machine (fewer than two CPUs free), one: an extra process would only take turns with the
    others' work (NOTES.md, fan-out)."""
    extra = min(int(free_cpus()) - 1, samples // SAMPLES_PER_WORKER, MAX_WORKERS - 1)
    return 1 + max(extra, 0)


def fan_out(chunks: Iterable[T], render: Callable[[T], bytes], workers: int, warmup: int = 0) -> Iterator[bytes]:
    """`render(chunk)` of every chunk, in order, on up to `workers` processes after `warmup` chunks here."""
    it = iter(chunks)
    for _ in range(warmup):
        for chunk in it:
            yield render(chunk)
            break
        else:
            return
    if workers < 2:
        for chunk in it:
            yield render(chunk)
        return
    gc.collect()
    gc.freeze()  # the children's collector then leaves the shared pages alone
    feeds = {w: _Feed(*_spawn(it, render, w, workers)) for w in range(1, workers)}
    try:
        for k, chunk in enumerate(it):
            feed = feeds.get(k % workers)
            data = feed.take(k) if feed is not None else None
            yield data if data is not None else render(chunk)
    finally:
        for feed in feeds.values():
            feed.close()


def _spawn(it: Iterator[T], render: Callable[[T], bytes], worker: int, workers: int) -> tuple[int, int]:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid:
        os.close(write_fd)
        return pid, read_fd
    code = 1  # child: render its share, send it, leave without the parent's cleanup or buffered output
    try:
        os.close(read_fd)
        try:
            import fcntl
            fcntl.fcntl(write_fd, _F_SETPIPE_SZ, 1 << 20)
        except OSError:
            pass
        with os.fdopen(write_fd, "wb", buffering=1 << 16) as out:
            for k, chunk in enumerate(it):
                if k % workers == worker:
                    data = render(chunk)
                    out.write(_FRAME.pack(k, len(data)))
                    out.write(data)
        code = 0
    except BaseException:  # noqa: BLE001 - the parent sees the pipe end early and renders the rest itself
        pass
    finally:
        os._exit(code)


@contextmanager
def forked(func: Callable[[], bytes]) -> Iterator[Callable[[], bytes]]:
    """`func()` started in a forked child; inside the block, the callable given waits for the bytes it
    sends back (running `func` here if the child failed). Leaving the block reaps the child, killed first
    if it is still running (the block raised)."""
    feed = _Feed(*_spawn(iter((func,)), _call, 0, 1))

    def result() -> bytes:
        data = feed.take(0)
        return data if data is not None else func()

    try:
        yield result
    finally:
        feed.close()


def _call(func: Callable[[], bytes]) -> bytes:
    return func()


class _Feed:
    """One child's rendered chunks, read in order; None once the child has failed."""

    def __init__(self, pid: int, fd: int):
        self.pid = pid
        self.pipe = os.fdopen(fd, "rb")
        self.alive = True

    def take(self, k: int) -> bytes | None:
        if not self.alive:
            return None
        head = self.pipe.read(_FRAME.size)
        if len(head) == _FRAME.size:
            number, size = _FRAME.unpack(head)
            data = self.pipe.read(size)
            if number == k and len(data) == size:
                return data
        self.alive = False
        return None

    def close(self) -> None:
        self.pipe.close()
        try:
            if os.waitpid(self.pid, os.WNOHANG) == (0, 0):
                os.kill(self.pid, 9)
                os.waitpid(self.pid, 0)
        except (ChildProcessError, ProcessLookupError):
            pass
