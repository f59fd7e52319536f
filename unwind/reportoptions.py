"""perf report's options (`--sort`, `-g`, `--children`, `--percent-limit`, `--inline`) as ReportOptions."""

from __future__ import annotations

import re

from formats.perfreport import CHAIN_MODES, SORT_ALIASES, SORT_KEYS, ReportOptions

from .errors import UsageError

_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")  # what perf's strtod reads


def parse_sort(text: str | None) -> tuple[str, ...]:
    """perf's --sort list (`dso,sym`, `comm`, `pid` ...) -> our key names; unknown keys are a UsageError."""
    if not text:
        return ("comm", "dso", "sym")
    keys = []
    for raw in text.split(","):
        key = SORT_ALIASES.get(raw.strip(), raw.strip())
        if key not in SORT_KEYS:
            raise UsageError(f"unknown sort key {raw!r} (unwind report knows {', '.join(SORT_KEYS)})")
        if key not in keys:
            keys.append(key)
    return tuple(keys)


def parse_call_graph(text: str | None, children: bool) -> tuple[str, str, float]:
    """perf's -g/--call-graph value (`graph,0.5,caller`, `caller`, `none`, `fractal,1`) ->
    (mode, order, threshold); the order defaults to caller with --children and callee without, as in perf."""
    mode, order, threshold = "graph", "", 0.5
    numbers = 0
    for token in (text or "").split(","):
        token = token.strip()
        if not token:
            continue
        if token in CHAIN_MODES:
            mode = token
        elif token in ("caller", "callee"):
            order = token
        elif token in ("function", "address", "percent", "period", "count", "branch", "srcline"):
            if token not in ("function", "percent"):
                raise UsageError(f"-g {token}: unwind report keys call graphs by function and shows percent")
        else:
            if not _NUMBER.fullmatch(token):
                raise UsageError(f"-g: cannot parse {token!r} (expected graph|fractal|flat|folded|none, "
                                 "caller|callee, a threshold)")
            value = float(token)
            if numbers == 0:
                threshold = value
            numbers += 1
    return mode, order or ("caller" if children else "callee"), threshold


def report_options(children: bool = True, sort: str | None = None, call_graph: str | None = None,
                   percent_limit: float = 0.0, inline: bool = True) -> ReportOptions:
    """perf report's options (`--children`, `--sort`, `-g`, `--percent-limit`, `--inline`) as ReportOptions;
    as in perf, a percent limit also becomes the call-graph threshold."""
    mode, order, threshold = parse_call_graph(call_graph, children)
    if percent_limit < 0 or threshold < 0:
        raise UsageError("percentages must not be negative")
    return ReportOptions(sort=parse_sort(sort), sort_given=sort is not None, children=children, chain_mode=mode,
                         order=order, min_percent=percent_limit or threshold, percent_limit=percent_limit,
                         inline=inline)
