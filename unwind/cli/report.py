"""`unwind report`: the call tree with percentages, laid out as `perf report --stdio` prints it, from our stacks."""

from __future__ import annotations

import argparse
import sys

HELP = "the call tree with percentages, as perf report prints it, from our stacks"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .perf import add_input_arguments

    parser.add_argument("input", metavar="INPUT",
                        help="a perf.data recording, a pprof profile, or stacks as `unwind stacks` reads them "
                             "(bpftrace, BCC folded)")
    add_input_arguments(parser)
    parser.add_argument("--maps", metavar="FILE", help="raw stacks: a saved /proc/PID/maps of the traced process")
    parser.add_argument("--children", dest="children", action="store_true", default=True,
                        help="add each function's callees' time to it (Children column; the default)")
    parser.add_argument("--no-children", dest="children", action="store_false", help="self time only (Overhead)")
    parser.add_argument("-s", "--sort", metavar="KEYS",
                        help="comm, pid, dso, sym, comma-separated (default comm,dso,sym)")
    parser.add_argument("-g", "--call-graph", metavar="MODE", dest="call_graph",
                        help="graph|fractal|flat|folded|none, caller|callee, THRESHOLD (perf's -g; default graph,0.5; "
                             "caller with --children, callee without)")
    parser.add_argument("--percent-limit", type=float, default=0.0, metavar="P",
                        help="hide entries below P percent (also the call-graph threshold)")
    parser.add_argument("--inline", dest="inline", action="store_true", default=True,
                        help="show inlined functions (the default)")
    parser.add_argument("--no-inline", dest="inline", action="store_false", help="no inlined functions")
    parser.add_argument("--stdio", action="store_true", help="perf report --stdio's text exactly, even on a terminal")
    parser.add_argument("--top", type=int, metavar="N", help="only the N hottest entries, one line each")
    parser.add_argument("-o", "--output", metavar="OUT", help="write here instead of stdout")


def run(args: argparse.Namespace) -> int:
    import shutil

    from formats.perfreport import render_stdio
    from formats.perfreport_tty import render_terminal, render_top

    from ..errors import UsageError
    from ..session import Session
    from . import open_output

    if args.max_stack < 1:
        raise UsageError(f"--max-stack {args.max_stack}: must be at least 1")
    if args.top is not None and args.top < 1:
        raise UsageError(f"--top {args.top}: must be at least 1")
    session = Session(symfs=args.symfs, debug_dirs=args.debug_dir, kallsyms=args.kallsyms)
    report = session.report(args.input, children=args.children, sort=args.sort, call_graph=args.call_graph,
                            percent_limit=args.percent_limit, inline=args.inline, unwinder=args.unwinder,
                            stitch=args.stitch, like_perf=args.like_perf, max_depth=args.max_stack, maps=args.maps,
                            progress=sys.stderr.isatty())
    tty = args.output is None and sys.stdout.isatty()
    width = shutil.get_terminal_size().columns if tty and not args.stdio else 0
    if args.top is not None:
        text = render_top(report, args.top, width, colour=tty)
    elif tty and not args.stdio:
        text = render_terminal(report, width, colour=True)
    else:
        text = render_stdio(report)
    out = open_output(args.output)
    try:
        out.write(text.encode())
    finally:
        out.close() if args.output else out.flush()
    if report.truncated and not args.stitch:
        print(f"unwind report: {report.truncated} samples truncated by the stack copy "
              "(--stitch completes them from other samples of the same thread)", file=sys.stderr)
    session.flush()  # frame-0 analyses the walks made, for the next run
    return 0
