"""A progress bar on stderr, drawn only when stderr is a terminal."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sized
from typing import Iterable, Iterator, TextIO, TypeVar

T = TypeVar("T")


def progress(items: Iterable[T], label: str, total: int | None = None,
             stream: TextIO | None = None) -> Iterator[T]:
    """Yield `items`, redrawing `label [####    ] n/total` at most ten times a second.

    Only the process that started the bar draws it (a forked worker iterating a copy stays quiet).
    """
    stream = stream or sys.stderr
    if not stream.isatty():
        yield from items
        return
    owner = os.getpid()
    if total is None and isinstance(items, Sized):
        total = len(items)
    last = 0.0
    count = 0
    for count, item in enumerate(items, 1):
        now = time.monotonic()
        if now - last > 0.1 and os.getpid() == owner:
            _draw(stream, label, count, total)
            last = now
        yield item
    if os.getpid() == owner:
        _draw(stream, label, count, total)
        stream.write("\n")
        stream.flush()


def _draw(stream: TextIO, label: str, count: int, total: int | None) -> None:
    if total:
        filled = int(30 * min(count, total) / total)
        stream.write(f"\r{label} [{'#' * filled}{' ' * (30 - filled)}] {count}/{total}")
    else:
        stream.write(f"\r{label} {count}")
    stream.flush()
