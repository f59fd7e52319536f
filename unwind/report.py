"""Symbolised stacks -> perf report's histogram: entries by sort key, self and children periods, call graphs.

The rules are perf 6.1's (util/hist.c, util/callchain.c), so that our report reads like `perf report`:
- an entry per distinct sort key (comm, pid, dso, sym) of the sample's own location (self period);
- with children, also one per distinct key along the sample's call chain, once per sample however
  often recursion repeats it (children period), each given the chain from it to the leaf (caller
  order) or from it to the root (callee order), the entry of the sample itself the whole chain;
- a call graph per entry: perf's radix tree of chains merged by function (by address when unnamed),
  children sorted by period, largest first;
- entries sorted by children period (callers above callees on a tie: the longer chain first in
  caller order), then self period, then the sort keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Protocol, Sequence

from formats.perfreport import (CHAIN_MODES, SORT_ALIASES, SORT_KEYS, ChainItem, ChainNode, Entry, Report,
                                ReportOptions)

from .errors import UsageError

UNRESOLVED_WIDTH = 16  # perf: BITS_PER_LONG / 4


class FrameLike(Protocol):
    """What the report needs of a symbolised frame."""

    @property
    def address(self) -> int: ...
    @property
    def symbol(self) -> str | None: ...
    @property
    def module(self) -> str | None: ...
    @property
    def inlined(self) -> bool: ...
    @property
    def kernel(self) -> bool: ...
    @property
    def offset(self) -> int | None: ...


class StackLike(Protocol):
    @property
    def comm(self) -> str: ...
    @property
    def tid(self) -> int: ...
    @property
    def period(self) -> int: ...
    @property
    def frames(self) -> Sequence[FrameLike]: ...


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
            try:
                value = float(token)
            except ValueError:
                raise UsageError(f"-g: cannot parse {token!r} (expected graph|fractal|flat|folded|none, "
                                 "caller|callee, a threshold)") from None
            if numbers == 0:
                threshold = value
            numbers += 1
    return mode, order or ("caller" if children else "callee"), threshold


@dataclass(slots=True)
class _Acc:
    comm: str
    tid: int
    frame: FrameLike
    own: bool
    level: str
    self_period: int = 0
    children_period: int = 0
    chain: ChainNode = field(default_factory=lambda: ChainNode([]))
    max_depth: int = 0
    sort_key: tuple[object, ...] = ()


class _Node:
    """One cursor node of a sample: a function (or an unnamed address) at one frame."""

    __slots__ = ("item", "key", "frame")

    def __init__(self, frame: FrameLike, dso_ranks: dict[str, int]):
        self.frame = frame
        dso = _dso(frame)
        # perf orders equal siblings by `struct dso *` (no dso: NULL, last), then by address
        rank = dso_ranks.setdefault(dso, len(dso_ranks)) if frame.module else -1
        if frame.symbol:
            self.key: tuple[object, ...] = (dso, frame.symbol, frame.inlined)
            name = frame.symbol + (" (inlined)" if frame.inlined else "")
        else:
            self.key = (dso, frame.address)
            name = f"{frame.address:#x}"
        self.item = ChainItem(self.key, name, (rank, frame.address))


def _dso(frame: FrameLike) -> str:
    module = frame.module
    if not module:
        return "[unknown]"
    if module.startswith("["):
        return module
    return module.rsplit("/", 1)[-1]


def build_report(stacks: Iterable[StackLike], options: ReportOptions, event: str = "cpu-clock",
                 lost: int = 0, thread_comms: Mapping[int, str] | None = None) -> Report:
    """Every stack into perf's histogram; `stacks` may be a stream (kept: one entry per key, and trees).

    `thread_comms` gives each thread's last comm (after every exec), which perf uses for the `pid`
    column and to size the `comm` column; by default the comm of the thread's last stack."""
    entries: dict[tuple[object, ...], _Acc] = {}
    total = samples = 0
    last_comm: dict[int, str] = {}
    use_chain = options.chain_mode != "none"
    dso_ranks: dict[str, int] = {}
    for stack in stacks:
        period = stack.period
        total += period
        samples += 1
        last_comm[stack.tid] = stack.comm
        nodes = [_Node(f, dso_ranks) for f in stack.frames if options.inline or not f.inlined]
        if not nodes:
            continue
        leaf = _leaf(stack.frames)
        cursor = nodes if options.order == "callee" else nodes[::-1]
        own = _entry(entries, options, stack, leaf, True)
        own.self_period += period
        if options.children:
            own.children_period += period
        if use_chain:
            _append(own, [n.item for n in cursor], period)
        if not options.children:
            continue
        seen = {id(own)}
        for i, node in enumerate(cursor):
            acc = _entry(entries, options, stack, node.frame, False)
            if id(acc) in seen:
                continue
            seen.add(id(acc))
            acc.children_period += period
            if use_chain:
                _append(acc, [n.item for n in cursor[i:]], period)
    comms = dict(last_comm)
    comms.update(thread_comms or {})
    ordered = sorted(entries.values(), key=lambda a: _order(a, options))
    widths = _widths(options, ordered, comms)
    rows = []
    for acc in ordered:
        _sort_tree(acc.chain)
        columns = tuple(_column(name, acc, comms, width) for name, width in zip(options.sort, widths))
        rows.append(Entry(columns, acc.level, acc.self_period, acc.children_period, acc.chain, acc.max_depth))
    return Report(tuple(rows), total, samples, event, lost, options, widths)


def _leaf(frames: Sequence[FrameLike]) -> FrameLike:
    """The sample's own location: the function (not an inlined callee) of its first address."""
    for frame in frames:
        if not frame.inlined:
            return frame
    return frames[0]


def _entry(entries: dict[tuple[object, ...], _Acc], options: ReportOptions, stack: StackLike, frame: FrameLike,
           own: bool) -> _Acc:
    key: list[object] = []
    for name in options.sort:
        if name == "comm":
            key.append(stack.comm)
        elif name == "pid":
            key.append(stack.tid)
        elif name == "dso":
            key.append(_dso(frame))
        elif frame.symbol:
            key.append((_dso(frame), frame.symbol, frame.inlined))
        else:   # unnamed: perf keys and prints the sample's map-relative ip, a chain node's absolute ip
            key.append((_dso(frame), _unnamed_ip(frame, own)))
    ident = tuple(key)
    acc = entries.get(ident)
    if acc is None:
        acc = entries[ident] = _Acc(stack.comm, stack.tid, frame, own, "k" if frame.kernel else ".",
                                    sort_key=tuple(_sort_value(name, stack, frame, own) for name in options.sort))
    return acc


def _unnamed_ip(frame: FrameLike, own: bool) -> int:
    if own and frame.offset is not None:
        return frame.offset
    return frame.address


def _column(name: str, acc: _Acc, comms: Mapping[int, str], width: int) -> str:
    """One cell as perf prints it: the comm cut to its column, `pid:final comm`, the dso, `[.] symbol`."""
    frame = acc.frame
    if name == "comm":
        return acc.comm[:width]
    if name == "pid":
        return f"{acc.tid:7d}:{comms.get(acc.tid, acc.comm)}"[:width]
    if name == "dso":
        return _dso(frame)
    if frame.symbol:
        return f"[{acc.level}] {frame.symbol}" + (" (inlined)" if frame.inlined else "")
    return f"[{acc.level}] {_unnamed_ip(frame, acc.own):#0{UNRESOLVED_WIDTH + 2}x}"


def _sort_value(name: str, stack: StackLike, frame: FrameLike, own: bool) -> object:
    if name == "comm":
        return stack.comm
    if name == "pid":
        return stack.tid
    if name == "dso":   # perf: an entry without a dso after every named one
        return (0, _dso(frame)) if frame.module else (1, "")
    if frame.symbol:    # perf: a named entry before an unnamed one, names ascending, then addresses
        return (0, frame.symbol)
    return (1, f"{_unnamed_ip(frame, own):020d}")


def _widths(options: ReportOptions, entries: Sequence[_Acc], comms: Mapping[int, str]) -> tuple[int, ...]:
    """perf's hists__calc_col_len over every entry (shown or not): the threads' last comms, the dso names,
    the symbols (+4 for '[.] ', without ' (inlined)'), at least each header."""
    from formats.perfreport import HEADERS

    widths = []
    for name in options.sort:
        width = len(HEADERS[name])
        for acc in entries:
            frame = acc.frame
            if name == "comm":
                width = max(width, len(comms.get(acc.tid, acc.comm)))
            elif name == "pid":
                width = max(width, max(len(comms.get(acc.tid, acc.comm)), len(HEADERS["comm"])) + 8)
            elif name == "dso":
                width = max(width, len(_dso(frame)) if frame.module else UNRESOLVED_WIDTH)
                if not frame.symbol:
                    width = max(width, UNRESOLVED_WIDTH)
            else:
                width = max(width, len(frame.symbol) + 4 if frame.symbol else UNRESOLVED_WIDTH + 6)
        widths.append(width)
    return tuple(widths)


def _order(acc: _Acc, options: ReportOptions) -> tuple[object, ...]:
    depth = 0
    if options.children and options.chain_mode != "none":
        depth = -acc.max_depth if options.order == "caller" else acc.max_depth
    if options.children:
        return (-acc.children_period, depth, -acc.self_period, acc.sort_key)
    return (-acc.self_period, acc.sort_key)


def _append(acc: _Acc, items: list[ChainItem], period: int) -> None:
    """perf's callchain_append: add one chain to the entry's radix tree (splitting a node where it diverges)."""
    acc.max_depth = max(acc.max_depth, len(items))
    node = acc.chain
    pos = 0
    while True:
        if pos == len(items):
            node.hit += period
            return
        node.children_hit += period
        child = _find_child(node, items[pos].key)
        if child is None:
            node.children.append(ChainNode(items[pos:], hit=period))
            return
        matched = 0
        while matched < len(child.items) and pos + matched < len(items) \
                and child.items[matched].key == items[pos + matched].key:
            matched += 1
        if matched < len(child.items):
            _split(child, matched)
        node = child
        pos += matched


def _find_child(node: ChainNode, key: tuple[object, ...]) -> ChainNode | None:
    for child in node.children:
        if child.items[0].key == key:
            return child
    return None


def _split(node: ChainNode, at: int) -> None:
    """Cut `node` after `at` items: the tail (with node's hit and children) becomes its only child."""
    tail = ChainNode(node.items[at:], node.hit, node.children, node.children_hit)
    node.items = node.items[:at]
    node.children = [tail]
    node.children_hit = tail.cumul
    node.hit = 0


def _sort_tree(root: ChainNode) -> None:
    """Children by cumulative period, largest first. perf breaks ties by the order of its unsorted tree:
    descending function address within a dso, the dso loaded last first (its `struct dso` pointers)."""
    stack = [root]
    while stack:
        node = stack.pop()
        node.children.sort(key=lambda c: c.items[0].rank, reverse=True)
        node.children.sort(key=lambda c: -c.cumul)
        stack.extend(node.children)
