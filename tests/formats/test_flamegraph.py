"""Flame graph SVG: well-formed XML, exact geometry for a known input, and real rendering in headless Chromium."""

from __future__ import annotations

import re
import struct
import subprocess
import tempfile
import zlib
from collections import Counter
from pathlib import Path
from xml.etree import ElementTree

import pytest
from hypothesis import given, settings, strategies as st

from conftest import need_tool
from formats.flamegraph import FRAME_HEIGHT, XPAD, frame_color, label, layout, write_flamegraph

SVG = "{http://www.w3.org/2000/svg}"
KNOWN = {"a;b;c": 3, "a;b;d": 1, "a;e": 4, "x": 2}


def frame_groups(svg: str) -> list[ElementTree.Element]:
    root = ElementTree.fromstring(svg)
    frames = root.find(f".//{SVG}g[@id='frames']")
    return list(frames)


def test_known_input_geometry():
    svg = write_flamegraph(KNOWN, title="known")
    groups = frame_groups(svg)
    per_sample = (1200 - 2 * XPAD) / 10
    expected = {  # name: (depth, first sample, samples) for every merged frame
        "all": (0, 0, 10), "a": (1, 0, 8), "x": (1, 8, 2), "b": (2, 0, 4), "e": (2, 4, 4), "c": (3, 0, 3),
        "d": (3, 3, 1),
    }
    assert sorted(g.get("data-name") for g in groups) == sorted(expected)
    height = int(ElementTree.fromstring(svg).get("height"))
    assert height == 4 * FRAME_HEIGHT + 36 + 34
    for g in groups:
        depth, start, count = expected[g.get("data-name")]
        rect = g.find(f"{SVG}rect")
        assert float(rect.get("width")) == pytest.approx(count * per_sample, abs=0.006)
        assert float(rect.get("x")) == pytest.approx(XPAD + start * per_sample, abs=0.006)
        assert float(rect.get("y")) == height - 34 - (depth + 1) * FRAME_HEIGHT + 1
        assert g.find(f"{SVG}title").text == (
            f"{g.get('data-name')} ({count} {'sample' if count == 1 else 'samples'}, {100 * count / 10:.2f}%)")


def test_labels_and_escaping():
    assert label("short", 100) == "short"
    assert label("a_rather_long_function_name", 60) == "a_rather"[:6] + ".."
    assert label("abc", 15) == ""
    svg = write_flamegraph({'m<a>&"b";f\x01g': 1})
    names = [g.get("data-name") for g in frame_groups(svg)]
    assert names == ["all", 'm<a>&"b"', "f?g"]


def read_png(path: Path) -> tuple[int, int, list[bytes]]:
    """Minimal PNG decoder for Chromium screenshots (8-bit RGB/RGBA, not interlaced): rows of RGB bytes."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0
    bpp = 3 if color == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = previous[i], previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line[j] for i in range(0, stride, bpp) for j in range(i, i + 3)))
        previous = line
    return width, height, rows


def screenshot(svg_path: Path, fragment: str = "") -> Counter[tuple[int, int, int]]:
    """Render with headless Chromium; returns a histogram of pixel colours."""
    png = svg_path.with_suffix(f".{abs(hash(fragment))}.png")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [need_tool("chromium"), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", f"--screenshot={png}", "--window-size=1200,800",
             f"file://{svg_path}{fragment}"],
            check=True, capture_output=True, timeout=120,
        )
    _, _, rows = read_png(png)
    return Counter(tuple(row[i:i + 3]) for row in rows for i in range(0, len(row), 3))


def rgb(text: str) -> tuple[int, int, int]:
    return tuple(int(v) for v in re.findall(r"\d+", text))


@pytest.fixture(scope="module")
def known_svg(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("flame") / "known.svg"
    path.write_text(write_flamegraph(KNOWN, title="known"))
    return path


def test_renders_in_chromium(known_svg):
    pixels = screenshot(known_svg)
    assert len(pixels) > 5, "screenshot is blank"
    per_sample = (1200 - 2 * XPAD) / 10
    for name, count in {"all": 10, "a": 8, "b": 4, "e": 4, "c": 3, "x": 2, "d": 1}.items():
        # Interior of the frame box (the label and rounded corners take some pixels).
        assert pixels[rgb(frame_color(name))] > 0.5 * (count * per_sample - 4) * (FRAME_HEIGHT - 3), name


def test_search_fragment_highlights_matches(known_svg):
    pixels = screenshot(known_svg, "#search=^[bx]$")
    per_sample = (1200 - 2 * XPAD) / 10
    magenta = pixels[(230, 0, 230)]
    assert 0.5 * 6 * per_sample * (FRAME_HEIGHT - 3) < magenta <= 6 * per_sample * FRAME_HEIGHT
    assert pixels[rgb(frame_color("b"))] == 0


def test_zoom_fragment_widens_the_subtree(known_svg):
    names = [g.get("data-name") for g in frame_groups(known_svg.read_text())]
    pixels = screenshot(known_svg, f"#zoom={names.index('b')}")
    inner = 1200 - 2 * XPAD
    # c had 3 of b's 4 samples: after zooming into b it spans three quarters of the width; e and x are hidden.
    assert pixels[rgb(frame_color("c"))] > 0.5 * 0.75 * inner * (FRAME_HEIGHT - 3)
    assert pixels[rgb(frame_color("e"))] == 0 and pixels[rgb(frame_color("x"))] == 0


stacks = st.dictionaries(
    st.lists(st.text(min_size=1, max_size=4).filter(lambda s: ";" not in s), min_size=1, max_size=5).map(";".join),
    st.integers(-2, 1000), max_size=12)


@settings(max_examples=150, deadline=None)
@given(stacks)
def test_any_input_gives_well_formed_svg(counts):
    svg = write_flamegraph(counts)
    groups = frame_groups(svg)
    rects, total, _ = layout(counts)
    assert total == sum(c for c in counts.values() if c > 0)
    assert len(groups) == len(rects)
    if total:
        assert groups[0].get("data-name") == "all"
        assert float(groups[0].find(f"{SVG}rect").get("width")) == pytest.approx(1200 - 2 * XPAD, abs=0.01)
