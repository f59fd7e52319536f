"""`unwind perf`: unwind and symbolise every sample of a perf.data recording."""

from __future__ import annotations

import argparse
import sys

HELP = "unwind and symbolise the samples of a perf.data file"
FORMATS = ("perf-script", "json", "folded", "pprof", "speedscope", "svg")
WITHOUT_LINES = ("perf-script", "folded")  # formats that print no source file or line
MARKED = ("folded", "pprof", "speedscope", "svg")  # profiles whose truncated stacks get a [truncated] root


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debuginfod", metavar="URL",
                        help="debuginfod server(s), space separated, for debug files by build-id "
                             "(default $DEBUGINFOD_URLS)")
    parser.add_argument("perf_data", metavar="PERF.DATA")
    parser.add_argument("--format", default="perf-script", choices=FORMATS)
    parser.add_argument("--inlines", action="store_true", help="add inlined frames")
    add_input_arguments(parser)
    parser.add_argument("--no-truncated-marker", action="store_true",
                        help="no synthetic [truncated] root frame in folded/pprof/speedscope/svg output")
    parser.add_argument("-o", "--output", metavar="OUT", help="write here instead of stdout")
    parser.add_argument("-j", "--jobs", type=int, default=0, metavar="N",
                        help="processes for perf-script/json output (default: one more per CPU the machine's "
                             "load leaves free, up to 4, each with 1000 samples or more; 1 = no fork)")


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    """How a recording's stacks are made (shared with `unwind report`)."""
    group = parser.add_argument_group("unwinding")
    group.add_argument("--unwinder", default="dwarf", help="fp, dwarf, orc, lbr, auto (default dwarf)")
    group.add_argument("--kallsyms", metavar="FILE",
                       help="kernel symbols (kallsyms or System.map; default /proc/kallsyms, or for a recording "
                            "of another kernel its copy in perf's build-id cache, ~/.debug/[kernel.kallsyms]/ID)")
    group.add_argument("--like-perf", action="store_true",
                       help="reproduce perf 6.1's stack-copy bound (ignores the last 8 bytes) for diffable output")
    group.add_argument("--stitch", action="store_true",
                       help="complete stacks cut by the end of the stack copy from other samples of the same "
                            "thread (the unwinder's -stitched variant; one process)")
    group.add_argument("--max-stack", "--max-depth", type=int, default=127, metavar="N", dest="max_stack",
                       help="user frames per sample at most (default 127, perf's kernel.perf_event_max_stack)")


def run(args: argparse.Namespace) -> int:
    import gc

    from ..api import write
    from ..session import Session
    from . import open_output

    session = Session(symfs=args.symfs, debug_dirs=args.debug_dir, debuginfod=args.debuginfod, kallsyms=args.kallsyms)
    run = session.perf(args.perf_data, args.unwinder, args.inlines, args.max_stack, like_perf=args.like_perf,
                       lines=args.format not in WITHOUT_LINES, stitch=args.stitch,
                       truncated_marker=args.format in MARKED and not args.no_truncated_marker)
    # A run allocates millions of short-lived objects and few cycles: collect rarely.
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    out = open_output(args.output)
    try:
        write(run, args.format, out, jobs=args.jobs or run.auto_jobs())
    finally:
        out.close() if args.output else out.flush()
        session.flush()
    if run.stitcher is not None:
        st = run.stitcher.stats
        print(f"unwind perf: {st.truncated} samples truncated by the stack copy, {st.stitched} stitched "
              f"({st.completed} now complete), {st.ambiguous} ambiguous", file=sys.stderr)
    elif run.truncated:
        print(f"unwind perf: {run.truncated} samples truncated by the stack copy "
              "(--stitch completes them from other samples of the same thread)", file=sys.stderr)
    stats = run.stats
    if stats.skipped:
        first = stats.skips[0]
        print(f"unwind perf: skipped {stats.skipped} damaged or unreadable records "
              f"(first at offset {first.offset:#x}: {first.reason})", file=sys.stderr)
    return 0
