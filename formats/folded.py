"""Folded stacks (`root;...;leaf count`), as FlameGraph's stackcollapse tools and perf's stackcollapse.py print them.

Conventions (perf's scripts/python/stackcollapse.py, FlameGraph stackcollapse-perf.pl): the comm
(spaces turned into `_`, optionally `-pid` and `/tid`) is the root frame; a missing symbol is
`[unknown]`; `;` inside a name becomes `:`; kernel frames get `_[k]` and inline frames `_[i]`
when annotated (stackcollapse-perf.pl --all; inline wins over kernel); one count per sample
(or its period); lines sorted by plain string order.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Mapping

from .errors import FormatError
from .stack import Frame, Stack


@dataclass(frozen=True, slots=True)
class FoldedStack:
    """One folded line: frame names root first and the count."""

    frames: tuple[str, ...]
    count: int


def tidy_name(name: str | None) -> str:
    """A frame name safe for the folded format: `[unknown]` when missing, `;` turned into `:`, no newline."""
    if not name:
        return "[unknown]"
    return name.replace(";", ":").replace("\n", " ")


def frame_label(frame: Frame, annotate_kernel: bool = False, annotate_inline: bool = False) -> str:
    name = tidy_name(frame.symbol)
    if annotate_inline and frame.inlined:
        return name + "_[i]"
    if annotate_kernel and frame.kernel:
        return name + "_[k]"
    return name


def root_label(sample: Stack, include_pid: bool = False, include_tid: bool = False) -> str:
    """The comm root frame: spaces to `_`, then `-pid` and `/tid` as stackcollapse.py --include-pid/--include-tid."""
    label = (sample.comm or "").replace(" ", "_").replace(";", ":").replace("\n", "_")
    sep = "-"
    if include_pid:
        label += f"{sep}{sample.pid or 0}"
        sep = "/"
    if include_tid:
        label += f"{sep}{sample.tid or 0}"
    return label


def fold(
    samples: Iterable[Stack],
    *,
    include_comm: bool = True,
    include_pid: bool = False,
    include_tid: bool = False,
    annotate_kernel: bool = False,
    annotate_inline: bool = False,
    use_period: bool = False,
) -> Counter[str]:
    """Aggregate stacks into folded stack strings -> count (samples, or summed periods; a stack weighs `count`)."""
    counts: Counter[str] = Counter()
    for sample in samples:
        names = [frame_label(f, annotate_kernel, annotate_inline) for f in reversed(sample.frames)]
        if include_comm and (sample.comm or include_pid or include_tid):  # no owner known: no root frame
            names.insert(0, root_label(sample, include_pid, include_tid))
        if not names:
            continue
        counts[";".join(names)] += (sample.period if use_period else 1) * max(sample.count, 1)
    return counts


def format_folded(counts: Mapping[str, int]) -> str:
    """Sorted `stack count` lines, as stackcollapse tools print them."""
    return "".join(f"{stack} {counts[stack]}\n" for stack in sorted(counts))


def write_folded(samples: Iterable[Stack], **options: bool) -> str:
    """Fold the samples and print them (options as for `fold`)."""
    return format_folded(fold(samples, **options))


def parse_folded(text: str, path: str | None = None) -> list[FoldedStack]:
    """Read folded lines back; blank lines are skipped, anything else malformed is a FormatError."""
    stacks: list[FoldedStack] = []
    offset = 0
    for lineno, line in enumerate(text.split("\n"), 1):
        start, offset = offset, offset + len(line) + 1
        line = line.rstrip("\r")
        if not line.strip():
            continue
        stack, sep, count = line.rpartition(" ")
        if not sep or not stack or not count.isdigit() or not count.isascii():
            raise FormatError(f"line {lineno}: expected 'frame;frame;... count'", path, start)
        stacks.append(FoldedStack(tuple(stack.split(";")), int(count)))
    return stacks


def merge_folded(stacks: Iterable[FoldedStack]) -> Counter[str]:
    """Sum counts of identical stacks (the input of format_folded)."""
    counts: Counter[str] = Counter()
    for stack in stacks:
        counts[";".join(stack.frames)] += stack.count
    return counts
