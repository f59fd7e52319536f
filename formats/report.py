"""The accuracy report as one self-contained HTML page with inline SVG plots (no scripts, no external files).

Input is the `unwind compare --format json` dict (plus the optional `lbr_sweep`, `title` and
`inputs` keys). Pure rendering: the numbers are drawn as given.
"""

from __future__ import annotations

from html import escape
from typing import Literal, NotRequired, Sequence, TypedDict

# Fixed colours per unwinder (the tests look for them in a screenshot), then a fallback cycle.
PALETTE = {"fp": "#1f77b4", "dwarf": "#ff7f0e", "orc": "#2ca02c", "lbr": "#d62728", "auto": "#9467bd",
           "scan": "#8c564b", "lbr-stitched": "#e377c2"}
CYCLE = ("#17becf", "#bcbd22", "#7f7f7f", "#8c564b", "#e377c2", "#393b79", "#637939")
SWEEP_COLORS = ("#b22222", "#4682b4")  # exact rate, frame recall
CLASSES = ("prologue", "epilogue", "body", "leaf", "plt", "signal", "unknown")
CHART_W, CHART_H = 900, 320
DEPTH_CAP = 24  # the depth histogram pools deeper prefixes into one bar
PAD_L, PAD_R, PAD_T, PAD_B = 60, 20, 34, 70



class GroupJson(TypedDict):
    """One group of samples (a location class, a module, a program): its exact stacks."""

    samples: int
    exact_rate: float
    exact: NotRequired[int]
    frame_recall: NotRequired[float]
    exact_to_main: NotRequired[int]
    exact_to_main_rate: NotRequired[float]


class ErrorJson(TypedDict):
    sample: int
    message: str


class UnwinderJson(TypedDict):
    """One unwinder's metrics (`UnwinderReport.to_json`); the page shows defaults for the keys it may lack."""

    exact: int
    exact_rate: float
    frame_recall: float
    wrong_frames: int
    stops: dict[str, int]
    by_location: dict[str, GroupJson]
    samples: NotRequired[int]
    failures: NotRequired[int]
    exact_to_main: NotRequired[int]
    exact_to_main_rate: NotRequired[float]
    errors: NotRequired[list[ErrorJson]]
    reference_frames: NotRequired[int]
    emitted_frames: NotRequired[int]
    matched_frames: NotRequired[int]
    prefix_depths: NotRequired[dict[str, int]]
    cost_us: NotRequired[float]
    table_bytes: NotRequired[int | None]
    peak_bytes: NotRequired[int | None]
    by_module: NotRequired[dict[str, GroupJson]]
    by_function: NotRequired[dict[str, GroupJson]]


class SweepJson(TypedDict):
    """LBR at one depth (or stitched)."""

    exact_rate: float
    frame_recall: float
    exact: NotRequired[int]
    samples: NotRequired[int]


class CompareJson(TypedDict):
    """The `unwind compare --format json` document, plus the keys the page adds (title, inputs, ...)."""

    samples: int
    reference: str
    unwinders: dict[str, UnwinderJson]
    skipped: NotRequired[int]
    locations: NotRequired[dict[str, int]]
    lbr_sweep: NotRequired[dict[str, SweepJson]]
    by_program: NotRequired[dict[str, dict[str, GroupJson]]]
    title: NotRequired[str]
    inputs: NotRequired[list[str]]


_CSS = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f0f0f0}
td.name,th.name{text-align:left}.swatch{display:inline-block;width:10px;height:10px;margin-right:5px}
svg{display:block;margin:6px 0}svg text{font-size:11px;fill:#333}.muted{color:#777;font-size:12px}
"""


def unwinder_colors(names: Sequence[str]) -> dict[str, str]:
    """A colour per unwinder name: the fixed palette first, then the cycle."""
    out, spare = {}, iter(CYCLE * (1 + len(names) // len(CYCLE)))
    for name in names:
        out[name] = PALETTE.get(name) or next(spare)
    return out


def bar_chart(title: str, groups: Sequence[str], series: Sequence[tuple[str, str, Sequence[float]]],
              ymax: float = 1.0, percent: bool = True, width: int = CHART_W, height: int = CHART_H,
              group_colors: Sequence[str] | None = None) -> str:
    """Grouped vertical bars: one group per label, one bar per (name, colour, values) series.

    With `group_colors` (one series), each group's bar takes its own colour and there is no legend.
    """
    ymax = ymax if ymax > 0 else 1.0
    plot_w, plot_h = width - PAD_L - PAD_R, height - PAD_T - PAD_B
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
           f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
           f'<text x="{width / 2:.0f}" y="18" text-anchor="middle" style="font-size:13px;font-weight:bold">'
           f'{escape(title)}</text>']
    for k in range(5):
        value = ymax * k / 4
        y = PAD_T + plot_h - plot_h * k / 4
        text = f"{value * 100:.0f}%" if percent else _short(value)
        out.append(f'<line x1="{PAD_L}" y1="{y:.1f}" x2="{width - PAD_R}" y2="{y:.1f}" stroke="#e4e4e4"/>'
                   f'<text x="{PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end">{text}</text>')
    n = max(len(groups), 1)
    group_w = plot_w / n
    bar_w = group_w * 0.8 / max(len(series), 1)
    for g, label in enumerate(groups):
        x0 = PAD_L + g * group_w + group_w * 0.1
        for s, (name, color, values) in enumerate(series):
            value = values[g] if g < len(values) else 0.0
            h = plot_h * min(max(value, 0.0), ymax) / ymax
            x, y = x0 + s * bar_w, PAD_T + plot_h - h
            tip = f"{name} {label}: {value * 100:.1f}%" if percent else f"{name} {label}: {_short(value)}"
            fill = group_colors[g] if group_colors else color
            out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(bar_w - 1, 1):.1f}" height="{h:.1f}" '
                       f'fill="{fill}"><title>{escape(tip)}</title></rect>')
        out.append(f'<text x="{PAD_L + (g + 0.5) * group_w:.1f}" y="{PAD_T + plot_h + 15}" '
                   f'text-anchor="middle">{escape(str(label))}</text>')
    out.append(f'<line x1="{PAD_L}" y1="{PAD_T + plot_h}" x2="{width - PAD_R}" y2="{PAD_T + plot_h}" stroke="#555"/>')
    x = PAD_L
    for name, color, _ in () if group_colors else series:  # legend
        out.append(f'<rect x="{x}" y="{height - 22}" width="12" height="12" fill="{color}"/>'
                   f'<text x="{x + 16}" y="{height - 12}">{escape(name)}</text>')
        x += 22 + 7 * len(name) + 14
    out.append("</svg>")
    return "\n".join(out)


def _short(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.1f}M"
    if value >= 1e3:
        return f"{value / 1e3:.1f}k"
    return f"{value:.3g}"


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], first_is_name: bool = True) -> str:
    cells = "".join(f'<th class="name">{escape(h)}</th>' if i == 0 and first_is_name else f"<th>{escape(h)}</th>"
                    for i, h in enumerate(head))
    body = []
    for row in rows:
        body.append("<tr>" + "".join(
            f'<td class="name">{c}</td>' if i == 0 and first_is_name else f"<td>{c}</td>"
            for i, c in enumerate(row)) + "</tr>")
    return f"<table><tr>{cells}</tr>{''.join(body)}</table>"


def summary_rows(report: CompareJson, colors: dict[str, str]) -> list[list[str]]:
    rows = []
    for name, u in report["unwinders"].items():
        table = u.get("table_bytes")
        rows.append([f'<span class="swatch" style="background:{colors[name]}"></span>{escape(name)}',
                     f'{u["exact"]}', _pct(u["exact_rate"]), _pct(u.get("exact_to_main_rate", 0.0)),
                     _pct(u["frame_recall"]), f'{u["wrong_frames"]}',
                     f'{u.get("failures", 0)}', f'{u.get("cost_us", 0.0):.1f}',
                     "" if table is None else f"{table / 1024:.0f}",
                     escape(", ".join(f"{k} {v}" for k, v in u["stops"].items()))])
    return rows


def location_classes(report: CompareJson) -> list[str]:
    """The contract classes, plus any other class some unwinder reports samples for."""
    seen = list(CLASSES)
    for u in report["unwinders"].values():
        seen += [c for c in u["by_location"] if c not in seen]
    return seen


def depth_histogram(report: CompareJson, colors: dict[str, str], cap: int = DEPTH_CAP) -> str:
    """Share of samples per correct-prefix depth, one bar per unwinder; depths past `cap` share one bar."""
    depths = sorted({int(d) for u in report["unwinders"].values() for d in u.get("prefix_depths", {})})
    if not depths:
        return ""
    last = min(depths[-1], cap + 1)
    labels = [str(d) for d in range(last)] + [f"{last}+" if depths[-1] > last else str(last)]
    series = []
    for name, u in report["unwinders"].items():
        hist, total = u.get("prefix_depths", {}), max(u.get("samples", report["samples"]), 1)
        values = [0.0] * (last + 1)
        for depth, count in hist.items():
            values[min(int(depth), last)] += count / total
        series.append((name, colors[name], values))
    ymax = max((v for _, _, vals in series for v in vals), default=1.0) or 1.0
    return bar_chart("Correct-prefix depth (share of samples whose first d frames are right)", labels, series,
                     ymax=min(1.0, ymax * 1.1))


def render_html(report: CompareJson) -> str:
    """The whole page."""
    names = list(report["unwinders"])
    colors = unwinder_colors(names)
    title = report.get("title") or "Unwinder accuracy"
    classes = location_classes(report)
    counts = report.get("locations", {})
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
             f"<style>{_CSS}</style></head><body>",
             f"<h1>{escape(title)}</h1>",
             f"<p>{report['samples']} samples scored against <b>{escape(report['reference'])}</b>"
             + (f", {report['skipped']} without a reference skipped" if report.get("skipped") else "") + ".</p>"]
    if report.get("inputs"):
        parts.append('<p class="muted">' + "<br>".join(escape(str(i)) for i in report["inputs"]) + "</p>")
    parts.append("<h2>Summary</h2>")
    parts.append(_table(["unwinder", "exact", "exact rate", "exact through main", "frame recall", "wrong frames",
                         "failures", "µs/sample", "tables KiB", "stops"], summary_rows(report, colors)))
    parts.append('<p class="muted">exact: every frame equal, same length. Exact through main: the frames from '
                 "the leaf through main are right (C start-up frames beyond main ignored). Frame recall: reference "
                 "frames found in order (longest common subsequence) over all reference frames.</p>")
    parts.append("<h2>Exact stacks by location of the leaf pc</h2>")
    series = [(n, colors[n], [_rate(u["by_location"].get(c), "exact_rate") for c in classes])
              for n, u in report["unwinders"].items()]
    parts.append(bar_chart("Exact-stack rate by location class", [f"{c} ({counts.get(c, 0)})" for c in classes],
                           series))
    rows = [[escape(n)] + [_cell(u["by_location"].get(c)) for c in classes] for n, u in report["unwinders"].items()]
    parts.append(_table(["unwinder"] + [f"{c} ({counts.get(c, 0)})" for c in classes], rows))
    series = [(n, colors[n], [_rate(u["by_location"].get(c), "exact_to_main_rate") for c in classes])
              for n, u in report["unwinders"].items()]
    parts.append(bar_chart("Exact through main by location class (start-up frames ignored)",
                           [f"{c} ({counts.get(c, 0)})" for c in classes], series))
    parts.append("<h2>Correct-prefix depth</h2>")
    parts.append(depth_histogram(report, colors))
    sweep = report.get("lbr_sweep")
    if sweep:
        keys = list(sweep)
        parts.append("<h2>LBR depth sweep</h2>")
        parts.append(bar_chart("LBR: recorded buffer truncated to the newest D entries; stitched at full depth",
                               [k if k == "stitched" else f"depth {k}" for k in keys],
                               [("exact rate", SWEEP_COLORS[0], [sweep[k]["exact_rate"] for k in keys]),
                                ("frame recall", SWEEP_COLORS[1], [sweep[k]["frame_recall"] for k in keys])]))
    parts.append("<h2>Cost per sample</h2>")
    costs = [u.get("cost_us", 0.0) for u in report["unwinders"].values()]
    parts.append(bar_chart("Mean time of one unwind() call (µs, warm tables)", names, [("µs", "#555555", costs)],
                           ymax=max(costs, default=1.0) * 1.1, percent=False,
                           group_colors=[colors[n] for n in names]))
    parts.append(_modules_table(report))
    parts.append(_programs_table(report))
    parts.append("</body></html>\n")
    return "\n".join(p for p in parts if p)


def _rate(group: GroupJson | None, key: Literal["exact_rate", "exact_to_main_rate"]) -> float:
    return group.get(key, 0.0) if group else 0.0


def _cell(group: GroupJson | None, second: Literal["exact_to_main_rate"] | None = None) -> str:
    if not group or not group.get("samples"):
        return "–"
    extra = f" / {_pct(group.get(second, 0.0))}" if second else ""
    return f'{_pct(group["exact_rate"])}{extra} <span class="muted">({group["samples"]})</span>'


def _modules_table(report: CompareJson) -> str:
    modules = sorted({m for u in report["unwinders"].values() for m in u.get("by_module", {})})
    if not modules:
        return ""
    rows = [[escape(m)] + [_cell(u.get("by_module", {}).get(m)) for u in report["unwinders"].values()]
            for m in modules]
    return "<h2>Exact stacks by module of the leaf pc</h2>" + _table(["module"] + list(report["unwinders"]), rows)


def _programs_table(report: CompareJson) -> str:
    programs = report.get("by_program")
    if not programs:
        return ""
    names = list(report["unwinders"])
    rows = [[escape(p)] + [_cell(cells.get(n), "exact_to_main_rate") for n in names] for p, cells in programs.items()]
    return ("<h2>Exact stacks by program</h2>" + _table(["program"] + names, rows)
            + '<p class="muted">each cell: exact rate / exact through main (samples)</p>')
