"""The module-level verbs of the public API: `write` stacks in a format, `compare` unwinders."""

from __future__ import annotations

import os
from typing import IO, TYPE_CHECKING, Any, Iterable, Sequence

from formats.stack import Stack

from .errors import FileError, UsageError

if TYPE_CHECKING:
    from .compare import ComparisonReport
    from .model import Sample, Unwinder

FORMATS = ("perf-script", "json", "folded", "pprof", "speedscope", "svg")


def write(stacks: Iterable[Stack], fmt: str, out: str | os.PathLike[str] | IO[bytes], *, jobs: int = 1,
          **options: Any) -> None:
    """Write `stacks` in `fmt` (perf-script | json | folded | pprof | speedscope | svg) to a path or a binary file.

    A `Session.perf` run given `jobs` > 1 renders perf-script and JSON on that many processes;
    `options` go to the format's writer (e.g. `include_pid=True` for folded, `title=` for svg).
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown output format {fmt!r} (expected one of {', '.join(FORMATS)})")
    from .pipeline import PerfRun

    if isinstance(stacks, PerfRun) and not options:
        pieces: Iterable[bytes] = stacks.render(fmt, jobs)
    else:
        from formats.profile import write_profile

        pieces = (write_profile(stacks, fmt, **options),)
    if isinstance(out, (str, os.PathLike)):
        try:
            with open(out, "wb") as fh:
                for piece in pieces:
                    fh.write(piece)
        except OSError as exc:  # opening the output (a missing directory, a directory, no permission)
            raise FileError(os.fspath(out), exc, "write") from exc
        return
    for piece in pieces:
        out.write(piece)


def compare(samples: Iterable[Sample], unwinders: Sequence[str] | dict[str, Unwinder] = ("fp", "dwarf"),
            reference: str = "truth", **options: Any) -> ComparisonReport:
    """Score unwinders (registry names, or name -> unwinder) on the same samples against the ground
    truth the samples carry (`reference="truth"`) or against a reference unwinder by name."""
    from .compare import compare as run
    from .unwinders import get_unwinder

    if not isinstance(unwinders, dict):
        unwinders = {name: get_unwinder(name) for name in unwinders}
    return run(samples, unwinders, reference, **options)
