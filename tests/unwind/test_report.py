"""unwind/report.py + formats/perfreport.py against `perf report --stdio` (perf 6.1).

The builder is fed perf's own stacks of each recording (read back from `perf script`), so both reports
count exactly the same samples (and the lost samples perf counted): the text must be perf's, line for
line, for every option set. Two things are normalised, both perf's and explained in NOTES.md ("unwind
report"): the order of entries of equal percentages from different threads (perf's comparator is no
total order there) and fractal mode's "[...] (inlined)" (an uninitialised flag in perf).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from report_peer import entry_blocks, perf_dso_order, perf_report, perf_stacks, ties_sorted

from formats.perfreport import render_stdio
from unwind.errors import UsageError
from unwind.report import build_report
from unwind.reportoptions import parse_call_graph, parse_sort, report_options

RECORDINGS = ("tree.dwarf", "tree.fp", "threads.fp", "python.dwarf")

OPTION_SETS = [
    (), ("--no-children",),
    ("--sort", "dso"), ("--sort", "sym"), ("--sort", "comm"), ("--sort", "pid"), ("--sort", "dso,sym"),
    ("--sort", "comm,dso,sym"), ("--no-children", "--sort", "pid"), ("--no-children", "--sort", "dso,sym"),
    ("-g", "caller"), ("-g", "callee"), ("-g", "none"), ("--no-children", "-g", "caller"),
    ("--no-children", "-g", "callee"), ("--no-children", "--sort", "dso,sym", "-g", "none"),
    ("-g", "graph,2"), ("-g", "caller,0.1"), ("-g", "fractal"), ("--no-children", "-g", "fractal,1,callee"),
    ("--percent-limit", "5"), ("--no-children", "--percent-limit", "2"),
]


@pytest.fixture(scope="session")
def recordings(report_recordings: dict[str, Path]) -> dict[str, Path]:
    return report_recordings


@pytest.fixture(scope="session")
def peer_stacks(recordings: dict[str, Path]) -> dict[str, tuple[list, list[str]]]:
    out = {name: (perf_stacks(path), perf_dso_order(path)) for name, path in recordings.items()}
    for name, (stacks, _) in out.items():   # every recording runs for a few hundred milliseconds at 4 kHz
        assert len(stacks) > 100, f"perf script gave {len(stacks)} stacks for {recordings[name]}"
    return out


def options_of(args: tuple[str, ...], inline: bool = False):
    def value(flag: str) -> str | None:
        return args[args.index(flag) + 1] if flag in args else None

    return report_options(children="--no-children" not in args, sort=value("--sort"), call_graph=value("-g"),
                          percent_limit=float(value("--percent-limit") or 0), inline=inline)


@pytest.mark.parametrize("args", OPTION_SETS, ids=lambda a: " ".join(a) or "default")
@pytest.mark.parametrize("name", RECORDINGS)
def test_layout_is_perfs_on_perfs_stacks(recordings, peer_stacks, name: str, args: tuple[str, ...]) -> None:
    stacks, dso_order = peer_stacks[name]
    if any(f.symbol is None and f.module and not f.kernel for s in stacks for f in s.frames):
        # perf script prints an unnamed user frame's map-relative address, perf report the absolute one
        pytest.skip(f"{name}: an unnamed frame in a mapped file (perf script gives no absolute address)")
    theirs = perf_report(recordings[name], "--no-inline", *args)
    # perf's inputs, as the stacks: the samples the kernel lost under load (PERF_RECORD_LOST_SAMPLES)
    lost = int(re.search(r"^# Total Lost Samples: (\d+)$", theirs, re.MULTILINE)[1])
    ours = render_stdio(build_report(stacks, options_of(args), lost=lost, dso_order=dso_order))
    assert len(entry_blocks(theirs)) > 1  # the header and entries
    if name.startswith("threads"):
        ours_blocks, theirs_blocks = ties_sorted(ours), ties_sorted(theirs)
    else:
        ours_blocks, theirs_blocks = [ours], [theirs]
    if ours_blocks != theirs_blocks:
        # Call-graph siblings of equal percentage (a few start-up samples in ld.so: 25 % / 25 %) come in
        # the order of perf's rb-tree insertion, not a total order: then every line must still be perf's.
        assert sorted(ours.splitlines()) == sorted(theirs.splitlines())


def test_threads_show_their_final_comm(recordings, peer_stacks) -> None:
    """perf's pid column names a thread by its last comm: the main thread renamed itself half way."""
    stacks, dso_order = peer_stacks["threads.fp"]
    report = build_report(stacks, options_of(("--sort", "pid")), dso_order=dso_order)
    main_tid = next(s.tid for s in stacks if s.comm == "renamed-main")
    assert any(s.tid == main_tid and s.comm == "threads" for s in stacks)
    cells = {entry.columns[0].split(":")[0].strip(): entry.columns[0] for entry in report.entries}
    assert cells[str(main_tid)].endswith(":renamed-main")
    assert {c.split(":", 1)[1] for c in cells.values()} >= {"renamed-main", "worker-a", "wrk-b"}


def test_raw_stacks_weigh_their_count() -> None:
    """A BPF map's stack seen 3 times counts 3 samples; stacks without a thread report as [unknown]."""
    from report_peer import PeerFrame, PeerStack

    leaf = PeerFrame(0x401000, "leaf", "/bin/prog", False, False, 0x1000)
    root = PeerFrame(0x402000, "main", "/bin/prog", False, False, 0x2000)
    stacks = [PeerStack(None, None, 1, (leaf, root), count=3), PeerStack(None, None, 1, (root,), count=1)]
    report = build_report(stacks, options_of(("--no-children", "--sort", "comm,sym")))
    assert report.samples == 4 and report.total_period == 4
    assert [(e.columns, e.self_period) for e in report.entries] == [
        (("[unknown]", "[.] leaf"), 3), (("[unknown]", "[.] main"), 1)]


@pytest.mark.parametrize("text", ["dso,bogus", "srcline"])
def test_unknown_sort_key_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match="sort key"):
        parse_sort(text)


def test_call_graph_values() -> None:
    assert parse_call_graph("caller", children=False) == ("graph", "caller", 0.5)
    assert parse_call_graph(None, children=False) == ("graph", "callee", 0.5)
    assert parse_call_graph("fractal,2,callee", children=True) == ("fractal", "callee", 2.0)
    with pytest.raises(UsageError):
        parse_call_graph("graph,lots", children=True)
    with pytest.raises(UsageError):
        report_options(percent_limit=-1)
