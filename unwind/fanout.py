"""Ordered fan-out over forked processes: render a stream of chunks on several cores, output in order.

After the fork every process holds its own copy of the chunk iterator at the same position, so no
chunk crosses a process boundary: chunk k goes to worker k % workers, and children send back only
rendered bytes. A chunk a failed child leaves behind is rendered here, so a crash costs time, never
output. `warmup` chunks rendered here first would fill caches the children inherit; measured, the
processes warming their own caches side by side finishes sooner (bench/perf.py), so the default is 0.
"""

from __future__ import annotations

import gc
import os
import struct
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")

_FRAME = struct.Struct("<QQ")  # chunk number, byte length
_F_SETPIPE_SZ = 1031  # fcntl: a bigger pipe lets a child run further ahead


def usable_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):  # Linux
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


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
