"""Self-contained interactive flame graph SVG (inline CSS/JS), laid out like Brendan Gregg's flamegraph.pl.

Geometry follows flamegraph.pl's defaults: 1200 px wide, 16 px frames, 12 px font (0.59 em per
character), 10 px side padding, 36 px title band, 34 px details band, an `all` root frame, siblings
in name order, frames narrower than 0.1 px dropped, labels cut to the characters that fit with `..`.
Hover shows name/samples/percent, click zooms, Reset Zoom restores, Search (or Ctrl-F) highlights;
a URL fragment `#search=REGEXP` or `#zoom=N` opens the graph in that view.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Iterable, Mapping
from xml.sax.saxutils import escape

from .folded import fold
from .stack import Stack

IMAGE_WIDTH = 1200
FRAME_HEIGHT = 16
FONT_SIZE = 12
FONT_WIDTH = 0.59
MIN_WIDTH = 0.1
XPAD = 10
YPAD_TOP = FONT_SIZE * 3
YPAD_BOTTOM = FONT_SIZE * 2 + 10
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True, slots=True)
class FlameRect:
    """One merged frame as drawn: its name, depth (0 = `all`), sample span and pixel box."""

    name: str
    depth: int
    start: int
    count: int
    x: float
    y: float
    width: float


class _Node:
    """A frame of the merged tree: its samples and its callees by name."""

    __slots__ = ("count", "children")

    def __init__(self) -> None:
        self.count = 0
        self.children: dict[str, _Node] = {}


def layout(counts: Mapping[str, int], width: int = IMAGE_WIDTH) -> tuple[list[FlameRect], int, int]:
    """Merge folded stacks into frames; returns (rects root first, total samples, max depth)."""
    root = _Node()
    total = 0
    for stack, count in counts.items():
        if count <= 0:
            continue
        total += count
        node = root
        for name in _NOT_XML.sub("?", stack).split(";"):
            entry = node.children.get(name)
            if entry is None:
                entry = node.children[name] = _Node()
            entry.count += count
            node = entry
    spans: list[tuple[str, int, int, int]] = [("all", 0, 0, total)]
    work = [(root.children, 1, 0)]
    while work:
        children, depth, start = work.pop()
        for name in sorted(children):
            child = children[name]
            spans.append((name, depth, start, child.count))
            if child.children:
                work.append((child.children, depth + 1, start))
            start += child.count
    max_depth = max((s[1] for s in spans), default=0)
    height = (max_depth + 1) * FRAME_HEIGHT + YPAD_TOP + YPAD_BOTTOM
    per_sample = (width - 2 * XPAD) / total if total else 0.0
    rects = []
    for name, depth, start, count in spans:
        w = count * per_sample
        if w < MIN_WIDTH:
            continue
        y = height - YPAD_BOTTOM - (depth + 1) * FRAME_HEIGHT + 1
        rects.append(FlameRect(name, depth, start, count, XPAD + start * per_sample, y, w))
    return rects, total, max_depth


def frame_color(name: str) -> str:
    """flamegraph.pl-style palettes by annotation: `_[k]` orange, `_[i]` aqua, `_[j]` green, else hot; hashed."""
    digest = hashlib.blake2b(name.encode("utf-8", "replace"), digest_size=3).digest()
    v1, v2, v3 = (b / 255 for b in digest)
    if name.endswith("_[k]"):
        return f"rgb({205 + int(50 * v3)},{160 + int(60 * v1)},{int(30 * v2)})"
    if name.endswith("_[i]"):
        return f"rgb({int(60 * v3)},{170 + int(60 * v1)},{170 + int(60 * v2)})"
    if name.endswith("_[j]"):
        return f"rgb({int(50 * v3)},{200 + int(55 * v1)},{int(50 * v2)})"
    return f"rgb({205 + int(50 * v3)},{int(230 * v1)},{int(55 * v2)})"


def label(name: str, width: float) -> str:
    """The text that fits in the frame, as flamegraph.pl cuts it."""
    chars = int(width / (FONT_SIZE * FONT_WIDTH))
    if chars < 3:
        return ""
    return name if len(name) <= chars else name[: chars - 2] + ".."


_STYLE = """
text { font-family: Verdana, sans-serif; font-size: 12px; fill: rgb(0,0,0); }
#title { text-anchor: middle; font-size: 17px; }
#search, #unzoom { cursor: pointer; }
#unzoom.hide { display: none; }
#frames > g { cursor: pointer; }
#frames > g:hover > rect { stroke: black; stroke-width: 0.5; }
#frames > g.hide { display: none; }
#frames > g.parent > rect { opacity: 0.5; }
"""

_SCRIPT = """
(function () {
  var svg = document.documentElement, frames = document.getElementById('frames');
  var details = document.getElementById('details'), unzoom = document.getElementById('unzoom');
  var matched = document.getElementById('matched'), searchBtn = document.getElementById('search');
  var W = +svg.getAttribute('data-inner'), X = +svg.getAttribute('data-xpad'), CH = 12 * 0.59;
  var groups = Array.prototype.slice.call(frames.children);
  function attr(g, k) { return +g.getAttribute('data-' + k); }
  function place(g, x, w) {
    var r = g.querySelector('rect'), t = g.querySelector('text'), name = g.getAttribute('data-name');
    r.setAttribute('x', x.toFixed(2)); r.setAttribute('width', w.toFixed(2));
    t.setAttribute('x', (x + 3).toFixed(2));
    var chars = Math.floor(w / CH);
    t.textContent = chars < 3 ? '' : (name.length <= chars ? name : name.slice(0, chars - 2) + '..');
  }
  function describe(g) { return g.querySelector('title').textContent; }
  frames.addEventListener('mouseover', function (e) {
    var g = e.target.closest('#frames > g'); if (g) details.textContent = 'Function: ' + describe(g);
  });
  frames.addEventListener('mouseout', function () { details.textContent = ' '; });
  function zoom(target) {
    var x0 = attr(target, 'x'), w0 = attr(target, 'w'), d0 = attr(target, 'depth'), eps = 1e-6;
    groups.forEach(function (g) {
      var x = attr(g, 'x'), w = attr(g, 'w'), d = attr(g, 'depth');
      g.classList.remove('hide', 'parent');
      if (d < d0 && x <= x0 + eps && x + w >= x0 + w0 - eps) { g.classList.add('parent'); place(g, X, W); }
      else if (d >= d0 && x >= x0 - eps && x + w <= x0 + w0 + eps) { place(g, X + (x - x0) * W / w0, w * W / w0); }
      else { g.classList.add('hide'); }
    });
    unzoom.classList.remove('hide');
  }
  function reset() {
    groups.forEach(function (g) { g.classList.remove('hide', 'parent'); place(g, attr(g, 'x'), attr(g, 'w')); });
    unzoom.classList.add('hide');
  }
  frames.addEventListener('click', function (e) { var g = e.target.closest('#frames > g'); if (g) zoom(g); });
  unzoom.addEventListener('click', reset);
  function search(term) {
    var re, spans = [], total = 0, last = -1, sum = 0;
    try { re = term ? new RegExp(term) : null; } catch (err) { re = null; }
    groups.forEach(function (g) {
      var r = g.querySelector('rect');
      if (re && re.test(g.getAttribute('data-name'))) {
        r.setAttribute('fill', 'rgb(230,0,230)'); spans.push([attr(g, 'x'), attr(g, 'x') + attr(g, 'w')]);
      } else { r.setAttribute('fill', g.getAttribute('data-fill')); }
    });
    spans.sort(function (a, b) { return a[0] - b[0]; });
    spans.forEach(function (s) { if (s[1] > last) { sum += s[1] - Math.max(s[0], last); last = s[1]; } });
    matched.textContent = re ? 'Matched: ' + (100 * sum / W).toFixed(1) + '%' : '';
    searchBtn.textContent = re ? 'Reset Search' : 'Search';
    return sum;
  }
  searchBtn.addEventListener('click', function () {
    if (searchBtn.textContent === 'Reset Search') { search(''); return; }
    search(window.prompt('Enter search term (regexp allowed):', '') || '');
  });
  window.addEventListener('keydown', function (e) {
    if ((e.ctrlKey || e.metaKey) && e.key === 'f' || e.key === 'F3') {
      e.preventDefault(); search(window.prompt('Enter search term (regexp allowed):', '') || '');
    }
  });
  window.flamegraph = { zoom: zoom, reset: reset, search: search };
  // Links can carry a view: #search=REGEXP or #zoom=N (N-th frame in document order, 0 = all).
  var hash = decodeURIComponent((window.location.hash || '').slice(1)), eq = hash.indexOf('=');
  if (eq > 0 && hash.slice(0, eq) === 'search') search(hash.slice(eq + 1));
  if (eq > 0 && hash.slice(0, eq) === 'zoom' && groups[+hash.slice(eq + 1)]) zoom(groups[+hash.slice(eq + 1)]);
})();
"""


def write_flamegraph(counts: Mapping[str, int], title: str = "Flame Graph", width: int = IMAGE_WIDTH) -> str:
    """The SVG document for folded stack counts (`root;...;leaf` -> count)."""
    rects, total, max_depth = layout(counts, width)
    height = (max_depth + 1) * FRAME_HEIGHT + YPAD_TOP + YPAD_BOTTOM
    out = [
        '<?xml version="1.0" standalone="no"?>',
        f'<svg version="1.1" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg" data-inner="{width - 2 * XPAD}" data-xpad="{XPAD}" data-total="{total}">',
        f"<style>{_STYLE}</style>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="rgb(238,238,238)"/>',
        f'<text id="title" x="{width / 2:.1f}" y="24">{escape(title)}</text>',
        f'<text id="unzoom" class="hide" x="{XPAD}" y="24">Reset Zoom</text>',
        f'<text id="search" x="{width - XPAD - 100}" y="24">Search</text>',
        f'<text id="matched" x="{width - XPAD - 100}" y="{height - 17}"></text>',
        f'<text id="details" x="{XPAD}" y="{height - 17}"> </text>',
        '<g id="frames">',
    ]
    for rect in rects:
        percent = 100.0 * rect.count / total
        samples = "sample" if rect.count == 1 else "samples"
        fill = frame_color(rect.name)
        name = escape(rect.name, {'"': "&quot;"})
        out.append(
            f'<g data-name="{name}" data-x="{rect.x:.4f}" data-w="{rect.width:.4f}" data-depth="{rect.depth}" '
            f'data-fill="{fill}"><title>{escape(rect.name)} ({rect.count:,} {samples}, {percent:.2f}%)</title>'
            f'<rect x="{rect.x:.2f}" y="{rect.y:.1f}" width="{rect.width:.2f}" height="{FRAME_HEIGHT - 1}" '
            f'fill="{fill}" rx="2" ry="2"/>'
            f'<text x="{rect.x + 3:.2f}" y="{rect.y + 10.5:.1f}">{escape(label(rect.name, rect.width))}</text></g>'
        )
    out += ["</g>", f"<script><![CDATA[{_SCRIPT}]]></script>", "</svg>", ""]
    return "\n".join(out)


def write_flamegraph_samples(samples: Iterable[Stack], title: str = "Flame Graph", **fold_options: bool) -> str:
    """Fold samples (kernel and inline frames annotated by default) and draw them."""
    fold_options.setdefault("annotate_kernel", True)
    fold_options.setdefault("annotate_inline", True)
    return write_flamegraph(fold(samples, **fold_options), title)
