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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cmp_to_key, partial
from typing import NamedTuple, Protocol

from formats.perfreport import HEADERS, ChainItem, ChainNode, Entry, Report, ReportOptions

from .calltree import append_chain, sort_tree

UNRESOLVED_WIDTH = 16  # perf: BITS_PER_LONG / 4
UNKNOWN_COMM = "[unknown]"


class FrameLike(Protocol):
    """What the report needs of a symbolised frame."""

    @property
    def shown_addr(self) -> int: ...
    @property
    def symbol(self) -> str | None: ...
    @property
    def module(self) -> str | None: ...
    @property
    def inlined(self) -> bool: ...
    @property
    def kernel(self) -> bool: ...
    @property
    def map_offset(self) -> int | None: ...
    @property
    def start_address(self) -> int | None: ...


class StackLike(Protocol):
    """What the report needs of a stack (`unwind.Stack`): who, its weight (period x count), its frames."""

    @property
    def comm(self) -> str | None: ...
    @property
    def tid(self) -> int | None: ...
    @property
    def period(self) -> int: ...
    @property
    def count(self) -> int: ...
    @property
    def frames(self) -> Sequence[FrameLike]: ...


class _Who(NamedTuple):
    """The thread a stack belongs to (raw address arrays have none: `[unknown]`, -1)."""

    comm: str
    tid: int


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


class _DsoRanks:
    """The order perf made its dso objects in: the recording's mapped files as met (`order` may still grow
    while the stacks stream: a file is mapped before a sample is in it), then files only the stacks show."""

    __slots__ = ("order", "ranks", "seen")

    def __init__(self, order: Sequence[str]):
        self.order = order
        self.ranks: dict[str, int] = {}
        self.seen = 0

    def rank(self, dso: str) -> int:
        while dso not in self.ranks and self.seen < len(self.order):
            self.ranks.setdefault(_dso_name(self.order[self.seen]), len(self.ranks))
            self.seen += 1
        return self.ranks.setdefault(dso, len(self.ranks))


class _Node:
    """One cursor node of a sample: a function (or an unnamed address) at one frame."""

    __slots__ = ("frame", "item", "key")

    def __init__(self, frame: FrameLike, dso_ranks: _DsoRanks):
        self.frame = frame
        dso = _dso(frame)
        # perf orders equal siblings by `struct dso *` (no dso: NULL, last), then by address
        rank = dso_ranks.rank(dso) if frame.module else -1
        if frame.symbol:
            self.key: tuple[object, ...] = _function(frame)
            name = frame.symbol + (" (inlined)" if frame.inlined else "")
        else:
            self.key = (dso, frame.shown_addr)
            name = f"{frame.shown_addr:#x}" if frame.shown_addr else "0"  # C's %#llx prints 0 bare
        self.item = ChainItem(self.key, name, (rank, frame.shown_addr))


def _dso(frame: FrameLike) -> str:
    return _dso_name(frame.module)


def _function(frame: FrameLike) -> tuple[object, ...]:
    """What perf tells named functions apart by (sort__sym_cmp, match_chain): the dso and the symbol's start
    address (two static functions of one name are two entries), the name for an inlined function (or
    where the start is not known)."""
    if frame.inlined or frame.start_address is None:
        return (_dso(frame), frame.symbol, frame.inlined)
    return (_dso(frame), frame.start_address)


def _dso_name(module: str | None) -> str:
    """perf's short dso name: the file name, `[kernel.kallsyms]` and `[vdso]` as they are."""
    if not module:
        return "[unknown]"
    if module.startswith("["):
        return module
    return module.rsplit("/", 1)[-1]


def build_report(stacks: Iterable[StackLike], options: ReportOptions, event: str = "cpu-clock",
                 lost: int = 0, thread_comms: Mapping[int, str] | None = None,
                 dso_order: Sequence[str] = ()) -> Report:
    """Every stack into perf's histogram; `stacks` may be a stream (kept: one entry per key, and trees).

    `thread_comms` gives each thread's last comm (after every exec), which perf uses for the `pid`
    column and to size the `comm` column; by default the comm of the thread's last stack. `dso_order`:
    the recording's modules in the order perf met them (its mmap events), which orders equal siblings
    of a call graph as perf does; modules not in it rank after, in the order the stacks show them."""
    entries: dict[tuple[object, ...], _Acc] = {}
    total = samples = 0
    last_comm: dict[int, str] = {}
    use_chain = options.chain_mode != "none"
    dso_ranks = _DsoRanks(dso_order)
    for stack in stacks:
        count = max(stack.count, 1)
        period = stack.period * count
        total += period
        samples += count
        who = _Who(UNKNOWN_COMM if stack.comm is None else stack.comm, -1 if stack.tid is None else stack.tid)
        last_comm[who.tid] = who.comm
        nodes = [_Node(f, dso_ranks) for f in stack.frames if options.inline or not f.inlined]
        if not nodes:
            continue
        leaf = _leaf(stack.frames)
        cursor = nodes if options.order == "callee" else nodes[::-1]
        level = "k" if leaf.kernel else "."
        own = _entry(entries, options, who, leaf, True, level)
        own.self_period += period
        if options.children:
            own.children_period += period
        if use_chain:
            _append(own, [n.item for n in cursor], period)
        if not options.children:
            continue
        seen = {id(own)}
        for i, node in enumerate(cursor):
            # perf (fill_callchain_info) leaves the level of an address in no map and no symbol as the
            # previous chain entry's (or the sample's) left it
            if node.frame.module or node.frame.symbol:
                level = "k" if node.frame.kernel else "."
            acc = _entry(entries, options, who, node.frame, False, level)
            if id(acc) in seen:
                continue
            seen.add(id(acc))
            acc.children_period += period
            if use_chain:
                _append(acc, [n.item for n in cursor[i:]], period)
    comms = dict(last_comm)
    comms.update(thread_comms or {})
    ordered = sorted(entries.values(), key=lambda a: _order(a, options))
    ordered.sort(key=cmp_to_key(partial(_perf_cmp, options=options)))
    widths = _widths(options, ordered, comms)
    rows = []
    for acc in ordered:
        sort_tree(acc.chain)
        columns = tuple(_column(name, acc, comms, width) for name, width in zip(options.sort, widths))
        rows.append(Entry(columns, acc.level, acc.self_period, acc.children_period, acc.chain, acc.max_depth))
    return Report(tuple(rows), total, samples, event, lost, options, widths)


def _leaf(frames: Sequence[FrameLike]) -> FrameLike:
    """The sample's own location: the function (not an inlined callee) of its first address."""
    for frame in frames:
        if not frame.inlined:
            return frame
    return frames[0]


def _entry(entries: dict[tuple[object, ...], _Acc], options: ReportOptions, stack: _Who, frame: FrameLike,
           own: bool, level: str) -> _Acc:
    key: list[object] = []
    for name in options.sort:
        if name == "comm":
            key.append(stack.comm)
        elif name == "pid":
            key.append(stack.tid)
        elif name == "dso":
            key.append(_dso(frame))
        elif frame.symbol:
            key.append(_function(frame))
        else:   # unnamed: perf keys and prints the sample's map-relative ip, a chain node's absolute ip
            key.append((_dso(frame), _unnamed_ip(frame, own)))
    ident = tuple(key)
    acc = entries.get(ident)
    if acc is None:
        acc = entries[ident] = _Acc(stack.comm, stack.tid, frame, own, level,
                                    sort_key=tuple(_sort_value(name, stack, frame, own) for name in options.sort))
    return acc


def _unnamed_ip(frame: FrameLike, own: bool) -> int:
    if own and frame.map_offset is not None:
        return frame.map_offset
    return frame.shown_addr


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
    ip = _unnamed_ip(frame, acc.own)  # C's %-#.16llx: 0x and 16 digits, but no 0x for zero
    return f"[{acc.level}] " + (f"{ip:#0{UNRESOLVED_WIDTH + 2}x}" if ip else "0" * UNRESOLVED_WIDTH)


def _sort_value(name: str, stack: _Who, frame: FrameLike, own: bool) -> object:
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


def _perf_cmp(a: _Acc, b: _Acc, options: ReportOptions) -> int:
    """perf's hist_entry__sort: children period, then (same thread only) the longer chain first in caller
    order, then self period, then the sort keys. Not a total order (the depth counts only within one
    thread), so it refines `_order`'s total order; on our recordings this is perf's order."""
    if options.children:
        if a.children_period != b.children_period:
            return -1 if a.children_period > b.children_period else 1
        if a.tid == b.tid and options.chain_mode != "none" and a.max_depth != b.max_depth:
            r = -1 if a.max_depth > b.max_depth else 1
            return r if options.order == "caller" else -r
    if a.self_period != b.self_period:
        return -1 if a.self_period > b.self_period else 1
    return -1 if a.sort_key < b.sort_key else (1 if a.sort_key > b.sort_key else 0)


def _order(acc: _Acc, options: ReportOptions) -> tuple[object, ...]:
    depth = 0
    if options.children and options.chain_mode != "none":
        depth = -acc.max_depth if options.order == "caller" else acc.max_depth
    if options.children:
        return (-acc.children_period, depth, -acc.self_period, acc.sort_key)
    return (-acc.self_period, acc.sort_key)


def _append(acc: _Acc, items: list[ChainItem], period: int) -> None:
    acc.max_depth = max(acc.max_depth, len(items))
    append_chain(acc.chain, items, period)
