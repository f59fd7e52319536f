"""`perf report --stdio` text: the histogram of entries and their call graphs, as perf 6.1 lays them out.

Records only and pure rendering: the tree is built by `unwind.report`. The layout follows perf's
`ui/stdio/hist.c` (entry line, column widths, `|`/`---`/`--NN.NN%--` drawing of the call graph,
percentages of the whole for `graph`, of the parent for `fractal`) so that a user can diff our
report against perf's; what differs is listed in NOTES.md ("unwind report").
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

# Sort keys perf has for stack samples: name -> (column header, width source)
SORT_KEYS = ("comm", "pid", "dso", "sym")
SORT_ALIASES = {"symbol": "sym", "command": "comm", "shared_object": "dso", "thread": "pid", "tid": "pid"}
HEADERS = {"comm": "Command", "pid": "    Pid:Command", "dso": "Shared Object", "sym": "Symbol"}
CHAIN_MODES = ("graph", "fractal", "flat", "folded", "none")
MARGIN = " " * 12


@dataclass(frozen=True, slots=True)
class ChainItem:
    """One function of a call-graph node: its name as perf prints it (`name (inlined)`, or `0x...`)."""

    key: tuple[object, ...]   # what perf merges on: (dso, symbol, inlined) or (dso, address) when unnamed
    name: str
    rank: tuple[int, int] = (0, 0)  # perf's order among equal siblings: (its dso's load order, address)


@dataclass(slots=True)
class ChainNode:
    """A node of perf's call-graph radix tree: a run of functions, the period that ended on its last one
    (`hit`) and the children it branches into; `cumul` is hit + every child's cumul."""

    items: list[ChainItem]
    hit: int = 0
    children: list[ChainNode] = field(default_factory=list)
    children_hit: int = 0

    @property
    def cumul(self) -> int:
        return self.hit + self.children_hit


@dataclass(frozen=True, slots=True)
class Entry:
    """One histogram row: the sort-key columns, the self and the children period, the call graph."""

    columns: tuple[str, ...]      # the text of each sort-key column, in sort-key order
    level: str                    # '.' user, 'k' kernel
    self_period: int
    children_period: int
    chain: ChainNode              # the root (no items); its children are the graph's top branches
    max_depth: int                # the longest chain appended (perf puts callers above callees with it)


@dataclass(frozen=True, slots=True)
class ReportOptions:
    sort: tuple[str, ...] = ("comm", "dso", "sym")
    sort_given: bool = False      # perf drops the graph's first line only when --sort was given and starts with sym
    children: bool = True
    chain_mode: str = "graph"     # graph | fractal | flat | folded | none
    order: str = "caller"         # caller | callee
    min_percent: float = 0.5      # call-graph threshold, in percent
    percent_limit: float = 0.0    # entries below this (overhead, or children with --children) are hidden
    inline: bool = True


@dataclass(frozen=True, slots=True)
class Report:
    """Everything `perf report --stdio` prints: header facts, the rows (already sorted), the totals."""

    entries: tuple[Entry, ...]
    total_period: int
    samples: int
    event: str
    lost: int
    options: ReportOptions
    widths: tuple[int, ...]       # width of each sort-key column, over every entry (shown or not)
    truncated: int = 0            # stacks that end where the stack copy did (not printed; perf has no such line)


def event_name(attr_type: int, config: int) -> str:
    """perf's name for the common events (`perf list`), `raw 0x...` otherwise."""
    names = _EVENT_NAMES.get(attr_type)
    if names is not None and config < len(names):
        return names[config]
    return f"raw {attr_type:#x}:{config:#x}"


_EVENT_NAMES = {
    0: ("cycles", "instructions", "cache-references", "cache-misses", "branches", "branch-misses",
        "bus-cycles", "stalled-cycles-frontend", "stalled-cycles-backend", "ref-cycles"),
    1: ("cpu-clock", "task-clock", "page-faults", "context-switches", "cpu-migrations", "minor-faults",
        "major-faults", "alignment-faults", "emulation-faults", "dummy", "bpf-output", "cgroup-switches"),
}


def event_desc_names(blob: bytes, little: bool = True) -> list[str]:
    """Event names from perf.data's EVENT_DESC feature section (nr, attr size, then attr + ids + name)."""
    end = "<" if little else ">"
    names: list[str] = []
    if len(blob) < 8:
        return names
    nr, attr_size = struct.unpack_from(end + "II", blob, 0)
    pos = 8
    for _ in range(min(nr, 4096)):
        pos += attr_size
        if pos + 8 > len(blob):
            break
        nr_ids, length = struct.unpack_from(end + "II", blob, pos)
        pos += 8
        raw = blob[pos:pos + length]
        names.append(raw.split(b"\0", 1)[0].decode("utf-8", "replace"))
        pos += length + 8 * nr_ids
    return names


# ---------------------------------------------------------------- rendering


def render_stdio(report: Report, header: bool = True) -> str:
    """The report as `perf report --stdio` prints it (without perf's random closing tip)."""
    return "".join(_stdio_lines(report, header))


def _stdio_lines(report: Report, header: bool) -> Iterator[str]:
    opts = report.options
    if header:
        yield "# To display the perf.data header info, please use --header/--header-only options.\n#\n#\n"
        yield f"# Total Lost Samples: {report.lost}\n#\n"
        yield f"# Samples: {_samples_text(report.samples)} of event '{report.event}'\n"
        yield f"# Event count (approx.): {report.total_period}\n#\n"
    yield column_header(report)
    total = report.total_period or 1
    for entry in shown_entries(report):
        yield entry_line(entry, report) + "\n"
        if opts.chain_mode != "none":
            yield from _chain_lines(entry, report, total)
    yield "\n\n#\n#\n" if header else "\n\n"


def _samples_text(n: int) -> str:
    """perf's convert_unit (util/units.c): divided by 1000 while above 1000, then the unit letter or a space
    (`431 `, `3K`, `12M`); the header line adds ` of event`."""
    unit = " "
    for letter in "KMG":
        if n > 1000:
            n //= 1000
            unit = letter
    return f"{n}{unit}"


def shown_entries(report: Report) -> Iterator[Entry]:
    """The entries printed: those at or above --percent-limit (children with --children, else overhead)."""
    total = report.total_period or 1
    for entry in report.entries:
        shown = entry.children_period if report.options.children else entry.self_period
        if shown * 100.0 / total >= report.options.percent_limit:
            yield entry


def entry_percents(entry: Entry, report: Report) -> tuple[float, ...]:
    """The percentages of an entry's line: (children, self) with --children, else (overhead,)."""
    total = report.total_period or 1
    own = entry.self_period * 100.0 / total
    return (entry.children_period * 100.0 / total, own) if report.options.children else (own,)


def column_header(report: Report) -> str:
    """The three lines above the entries: column names, dots as wide as each column, `#`."""
    opts = report.options
    heads = ["Children", "    Self"] if opts.children else ["Overhead"]
    cols = [f"{HEADERS[key]:<{w}.{w}}" for key, w in zip(opts.sort, report.widths)]
    return ("# " + "  ".join(heads + cols) + "\n"
            + "# " + "  ".join(["." * 8] * len(heads) + ["." * w for w in report.widths]) + "\n#\n")


def entry_line(entry: Entry, report: Report) -> str:
    """One entry's line: its percentages and sort-key columns (no newline)."""
    opts = report.options
    total = report.total_period or 1
    parts = []
    if opts.children:
        parts.append(f"{entry.children_period * 100.0 / total:7.2f}%")
    parts.append(f"{entry.self_period * 100.0 / total:7.2f}%")
    for key, text, width in zip(opts.sort, entry.columns, report.widths):
        parts.append(text if key == "sym" else f"{text:<{width}}")  # perf pads every column but the symbol
    return "  " + "  ".join(parts)


def _chain_lines(entry: Entry, report: Report, total: int) -> Iterator[str]:
    opts = report.options
    parent = entry.children_period if opts.children else entry.self_period
    if opts.chain_mode in ("flat", "folded"):
        yield from _flat_or_folded(entry.chain, total, total * opts.min_percent / 100, opts.chain_mode)
        return
    relative = opts.chain_mode == "fractal"
    out: list[str] = []
    root = entry.chain
    shown = _shown(root, total * opts.min_percent / 100, relative, opts.min_percent)
    margin = 0
    if len(shown) == 1 and shown[0].cumul == parent:
        first = shown[0]
        printed = False
        skip_first = opts.sort_given and opts.sort[0] == "sym"
        for i, item in enumerate(first.items):
            if i == 0 and skip_first:
                continue
            if not printed:
                out.append(MARGIN + "|\n")
                out.append(MARGIN + "---")
                margin += 3
                printed = True
            else:
                out.append(MARGIN + " " * margin)
            out.append(item.name + "\n")
        root = first
        shown = _shown(root, total * opts.min_percent / 100, relative, opts.min_percent)
    graph_total = parent if relative else total
    _graph(out, root, shown, graph_total, 1, 1, margin, relative, total * opts.min_percent / 100,
           opts.min_percent)
    if out:
        out.append("\n")
    yield "".join(out)


def _shown(node: ChainNode, min_hit: float, relative: bool, min_percent: float) -> list[ChainNode]:
    """The children perf keeps in its sorted tree: at least min_hit (graph) or min_percent of the parent's
    children (fractal); already in perf's order (cumulative period, largest first)."""
    if relative:
        min_hit = node.children_hit * min_percent / 100
    return [c for c in node.children if c.cumul >= min_hit]


def _graph(out: list[str], node: ChainNode, children: Sequence[ChainNode], total: int, depth: int, mask: int,
           margin: int, relative: bool, min_hit: float, min_percent: float) -> None:
    """perf's __callchain__fprintf_graph: one branch per child, pipes for the levels still open."""
    remaining = total
    new_mask = mask
    for index, child in enumerate(children):
        remaining -= child.cumul
        last = index == len(children) - 1
        if last and (not relative or not remaining):
            new_mask &= ~(1 << (depth - 1))
        out.append(_graph_line(depth, mask, margin))
        for i, item in enumerate(child.items):
            out.append(_graph_item(item.name, depth, new_mask, i, child.cumul, total, margin))
        _graph(out, child, _shown(child, min_hit, relative, min_percent), child.children_hit if relative else total,
               depth + 1, new_mask | (1 << depth), margin, relative, min_hit, min_percent)
    if relative and remaining and remaining != total:
        new_mask &= ~(1 << (depth - 1))
        out.append(_graph_item("[...]", depth, new_mask, 0, remaining, total, margin))


def _graph_line(depth: int, mask: int, margin: int) -> str:
    return MARGIN + " " * margin + "".join("|          " if mask & (1 << i) else "           "
                                           for i in range(depth)) + "\n"


def _graph_item(name: str, depth: int, mask: int, period: int, hits: int, total: int, margin: int) -> str:
    parts = [MARGIN, " " * margin]
    for i in range(depth):
        parts.append("|" if mask & (1 << i) else " ")
        if not period and i == depth - 1:
            parts.append(f"--{hits * 100.0 / total:.2f}%--")
        else:
            parts.append(" " * 10)
    parts.append(name + "\n")
    return "".join(parts)


def _ended(root: ChainNode, min_hit: float) -> list[tuple[list[ChainNode], ChainNode]]:
    """Every node that ended chains worth min_hit, with its ancestors, largest `hit` first (perf's flat sort)."""
    found: list[tuple[list[ChainNode], ChainNode]] = []
    stack: list[tuple[ChainNode, list[ChainNode]]] = [(c, []) for c in reversed(root.children)]
    while stack:
        node, above = stack.pop()
        if node.hit and node.hit >= min_hit:
            found.append((above, node))
        stack.extend((c, above + [node]) for c in reversed(node.children))
    found.sort(key=lambda pair: -pair[1].hit)
    return found


def _flat_or_folded(root: ChainNode, total: int, min_hit: float, mode: str) -> Iterator[str]:
    for above, node in _ended(root, min_hit):
        names = [item.name for n in above + [node] for item in n.items]
        if mode == "folded":
            yield f"{node.hit * 100.0 / total:.2f}% " + ";".join(names) + "\n"
        else:
            yield (f"           {node.cumul * 100.0 / total:.2f}%\n"
                   + "".join(f"                {name}\n" for name in names) + "\n")
