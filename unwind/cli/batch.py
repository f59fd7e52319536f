"""`unwind batch`: many recordings unwound, symbolised and merged into one profile on Dask."""

from __future__ import annotations

import argparse
import sys

HELP = "unwind and merge many recordings (perf.data, stack files, directories, globs) into one profile on Dask"
FORMATS = ("pprof", "folded", "json", "svg", "speedscope")
WITHOUT_LINES = ("folded", "svg")  # formats that show no source file or line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", metavar="INPUT", nargs="+",
                        help="perf.data files, raw stack files (with FILE.maps beside them), directories, globs")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="a running dask scheduler (tcp://host:8786); default: a local cluster")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="worker processes of the local cluster (default: the usable CPUs)")
    parser.add_argument("--format", default="pprof", choices=FORMATS)
    parser.add_argument("-o", "--output", metavar="OUT", required=True)
    parser.add_argument("--cache-dir", metavar="DIR",
                        help="where every worker keeps symbol indexes and CFI tables (a shared filesystem for a "
                             "real cluster; default $UNWIND_CACHE_DIR, else ~/.cache/unwind)")
    parser.add_argument("--unwinder", default="dwarf", help="fp, dwarf, orc, lbr, auto (default dwarf)")
    parser.add_argument("--inlines", action="store_true", help="add inlined frames")
    parser.add_argument("--max-stack", type=int, default=127, metavar="N",
                        help="user frames per sample at most (default 127)")
    parser.add_argument("--kallsyms", metavar="FILE", help="kernel symbols (default /proc/kallsyms)")
    parser.add_argument("--no-truncated-marker", action="store_true",
                        help="no synthetic [truncated] root frame for stacks the stack copy cut")


def run(args: argparse.Namespace) -> int:
    from formats.merged import write_merged

    from ..batch import entries, summary
    from ..errors import UsageError
    from ..session import Session

    if args.max_stack < 1:
        raise UsageError(f"--max-stack {args.max_stack}: must be at least 1")
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers {args.workers}: must be at least 1")
    session = Session(symfs=args.symfs, debug_dirs=args.debug_dir, cache_dir=args.cache_dir, kallsyms=args.kallsyms)
    result = session.batch(args.inputs, args.scheduler, unwinder=args.unwinder, inlines=args.inlines,
                           max_depth=args.max_stack, lines=args.format not in WITHOUT_LINES,
                           truncated_marker=not args.no_truncated_marker, workers=args.workers)
    data = write_merged(entries(result), args.format)
    with open(args.output, "wb") as out:
        out.write(data)
    for line in summary(result):
        print(f"unwind batch: {line}", file=sys.stderr)
    return 0
