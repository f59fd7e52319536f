"""The HTML accuracy report: bar geometry from the numbers, self-contained, drawn by headless Chromium."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from conftest import ROOT, need_tool

from formats.report import CHART_H, PAD_B, PAD_T, PALETTE, SWEEP_COLORS, bar_chart, render_html, unwinder_colors

CLASSES = ("prologue", "epilogue", "body", "leaf", "plt", "signal")


def group(samples, exact):
    return {"samples": samples, "exact": exact, "exact_rate": exact / samples if samples else 0.0,
            "frame_recall": 0.9}


def unwinder(exact, rates, depths, cost):
    return {"exact": exact, "exact_rate": exact / 10, "frame_recall": 0.8, "wrong_frames": 3, "failures": 0,
            "stops": {"end": 8, "bad-rule": 2}, "samples": 10, "cost_us": cost, "table_bytes": 20480,
            "by_location": {c: group(10, round(r * 10)) for c, r in zip(CLASSES, rates)},
            "prefix_depths": depths, "by_module": {"libc.so.6": group(4, 2), "a.out": group(6, 6)}}


REPORT = {
    "samples": 10, "reference": "truth", "skipped": 0, "locations": dict.fromkeys(CLASSES, 10),
    "unwinders": {
        "fp": unwinder(2, (0.0, 0.1, 0.5, 0.2, 0.0, 0.3), {"0": 2, "1": 6, "3": 2}, 10.0),
        "dwarf": unwinder(9, (1.0, 0.9, 1.0, 1.0, 0.7, 1.0), {"2": 1, "5": 9}, 40.0),
        "<odd & name>": unwinder(5, (0.5,) * 6, {"4": 10}, 20.0),
    },
    "lbr_sweep": {"4": {"exact_rate": 0.25, "frame_recall": 0.5}, "8": {"exact_rate": 0.5, "frame_recall": 0.75},
                  "16": {"exact_rate": 0.75, "frame_recall": 0.9}, "32": {"exact_rate": 0.8, "frame_recall": 0.95},
                  "stitched": {"exact_rate": 1.0, "frame_recall": 1.0}},
}

RECT = re.compile(r'<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)" fill="(#[0-9a-f]{6})">'
                  r"<title>([^<]*)</title>")


def bars(svg: str) -> list[tuple[float, str, str]]:
    """(height, fill, tooltip) of every data bar."""
    return [(float(m[4]), m[5], m[6]) for m in RECT.finditer(svg)]


def test_bar_heights_follow_the_values():
    plot_h = CHART_H - PAD_T - PAD_B
    svg = bar_chart("t", ["a", "b"], [("x", "#112233", [0.5, 1.0]), ("y", "#445566", [0.0, 0.25])])
    assert [(h, f) for h, f, _ in bars(svg)] == [(plot_h * 0.5, "#112233"), (0.0, "#445566"),
                                                 (plot_h * 1.0, "#112233"), (plot_h * 0.25, "#445566")]
    assert [t for _, _, t in bars(svg)] == ["x a: 50.0%", "y a: 0.0%", "x b: 100.0%", "y b: 25.0%"]
    clipped = bar_chart("t", ["a"], [("x", "#112233", [3.0])], ymax=2.0, percent=False)
    assert bars(clipped)[0][0] == plot_h


def test_page_holds_every_plot_and_table():
    html = render_html(REPORT)
    svgs = re.findall(r"<svg.*?</svg>", html, re.S)
    assert len(svgs) == 5  # by location (exact, through main), depth histogram, LBR sweep, cost
    plot_h = CHART_H - PAD_T - PAD_B
    colors = unwinder_colors(list(REPORT["unwinders"]))
    assert colors["fp"] == PALETTE["fp"] and colors["dwarf"] == PALETTE["dwarf"]
    by_location = bars(svgs[0])
    assert len(by_location) == 3 * 7  # six contract classes + unknown, three unwinders
    dwarf_plt = [h for h, f, t in by_location if t == "dwarf plt (10): 70.0%"]
    assert dwarf_plt == [round(plot_h * 0.7, 1)]
    assert len(bars(svgs[1])) == 3 * 7
    depth = bars(svgs[2])
    assert len(depth) == 3 * 6  # depths 0..5
    sweep = bars(svgs[3])
    assert [f for _, f, _ in sweep] == list(SWEEP_COLORS) * 5
    assert [t for _, _, t in sweep][-2:] == ["exact rate stitched: 100.0%", "frame recall stitched: 100.0%"]
    cost = bars(svgs[4])
    assert [f for _, f, _ in cost] == [colors[n] for n in REPORT["unwinders"]]
    assert cost[1][0] > cost[2][0] > cost[0][0]
    assert "&lt;odd &amp; name&gt;" in html and "<odd" not in html
    assert "libc.so.6" in html and "20" in html


def test_depth_histogram_pools_deep_prefixes():
    deep = dict(REPORT, unwinders={"fp": dict(REPORT["unwinders"]["fp"], prefix_depths={"1": 5, "30": 3, "40": 2})})
    svg = re.findall(r"<svg.*?</svg>", render_html(deep), re.S)[2]
    tips = [t for _, _, t in bars(svg)]
    assert len(tips) == 26 and tips[1] == "fp 1: 50.0%" and tips[-1] == "fp 25+: 50.0%"


def test_self_contained():
    html = render_html(REPORT)
    assert "<script" not in html and "<link" not in html and "<img" not in html
    urls = set(re.findall(r"https?://[^\"' ]+", html))
    assert urls == {"http://www.w3.org/2000/svg"}  # the SVG namespace, never fetched


def test_empty_classes_show_a_dash():
    report = dict(REPORT, unwinders={"fp": dict(REPORT["unwinders"]["fp"],
                                                 by_location={"body": group(10, 5)})})
    html = render_html(report)
    assert html.count("<td>–</td>") == 6  # prologue, epilogue, leaf, plt, signal, unknown
    assert "LBR depth sweep" in html


def read_png(path: Path):
    spec = importlib.util.spec_from_file_location("flamegraph_png", ROOT / "tests/formats/test_flamegraph.py")
    module = sys.modules.get("flamegraph_png")
    if module is None:
        module = importlib.util.module_from_spec(spec)
        sys.modules["flamegraph_png"] = module
        spec.loader.exec_module(module)
    return module.read_png(path)


def test_renders_in_headless_chromium(tmp_path):
    page = tmp_path / "report.html"
    page.write_text(render_html(REPORT))
    png = tmp_path / "shot.png"
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([need_tool("chromium"), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                        "--no-first-run", "--disable-background-networking", "--disable-component-update",
                        "--disable-sync", f"--user-data-dir={profile}", f"--screenshot={png}",
                        "--window-size=1400,3000", f"file://{page}"], check=True, capture_output=True, timeout=120)
    _, _, rows = read_png(png)
    pixels = Counter(tuple(row[i:i + 3]) for row in rows for i in range(0, len(row), 3))
    plot_h = CHART_H - PAD_T - PAD_B

    def rgb(color):
        return tuple(int(color[i:i + 2], 16) for i in (1, 3, 5))

    # dwarf's bars: six classes at ~full height plus its depth and cost bars: well over a few thousand pixels.
    for name in ("fp", "dwarf"):
        assert pixels[rgb(PALETTE[name])] > 0.3 * plot_h * 10, name
    for color in SWEEP_COLORS:
        assert pixels[rgb(color)] > 0.2 * plot_h * 30, color
