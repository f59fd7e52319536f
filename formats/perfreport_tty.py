"""The report for a person at a terminal: `perf report --stdio`'s text cut to the terminal's width, its
percentages coloured as perf's stdio colours them (red from 5 %, green above 0.5 %, `ui/color.c`), and
a `--top N` summary of the hottest entries, one line each. Pure functions over `Report`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace

from .perfreport import Report, column_header, entry_line, entry_percents, render_stdio, shown_entries

RED, GREEN, RESET = "\x1b[31m", "\x1b[32m", "\x1b[m"
MIN_RED, MIN_GREEN = 5.0, 0.5
_ENTRY = re.compile(r"^( {3,5}\d+\.\d\d%)((?: {2,6}\d+\.\d\d%)?)(.*)$")


def percent_colour(percent: float) -> str:
    """perf's get_percent_color (ui/color.c): red from MIN_RED, green above MIN_GREEN, else none."""
    if abs(percent) >= MIN_RED:
        return RED
    return GREEN if abs(percent) > MIN_GREEN else ""


def _paint(cell: str, percent: float) -> str:
    colour = percent_colour(percent)
    return f"{colour}{cell}{RESET}" if colour else cell


def _fit(line: str, width: int, percents: tuple[float, ...] | None) -> str:
    """A line cut to `width` columns (0: as it is); an entry line's percentage cells painted with the entry's
    exact percentages when given (a cell is painted only where it is shown whole)."""
    line = line[:width] if width > 0 else line
    match = _ENTRY.match(line) if percents else None
    if match is None or percents is None:
        return line
    first, second, rest = match.groups()
    cells = [_paint(first, percents[0])]
    if second:
        cells.append(_paint(second, percents[1]))
    return "".join(cells) + rest


def _painted(lines: Iterator[str] | list[str], report: Report, width: int, colour: bool) -> str:
    entries = shown_entries(report)
    out = []
    for line in lines:
        percents = entry_percents(next(entries), report) if colour and _ENTRY.match(line) else None
        out.append(_fit(line, width, percents) + "\n")
    return "".join(out)


def render_terminal(report: Report, width: int, colour: bool) -> str:
    """The stdio report, every line at most `width` columns, percentages coloured when `colour`."""
    return _painted(render_stdio(report).split("\n")[:-1], report, width, colour)


def render_top(report: Report, count: int, width: int = 0, colour: bool = False) -> str:
    """The column header and the `count` hottest entries (by children period with --children, else by self
    period: perf's order), one line each, no call graphs."""
    top = list(shown_entries(report))[:max(count, 0)]
    lines = column_header(report).split("\n")[:-1] + [entry_line(entry, report) for entry in top]
    return _painted(lines, replace(report, entries=tuple(top)), width, colour)
