"""`unwind stacks`: symbolise raw stacks (bpftrace ustack/kstack, BCC folded, address lists, build-id entries)."""

from __future__ import annotations

import argparse

HELP = "symbolise raw address stacks from bpftrace, BCC or plain address lists"
FORMATS = ("perf-script", "json", "folded", "pprof", "speedscope", "svg")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debuginfod", metavar="URL",
                        help="debuginfod server(s), space separated, for debug files by build-id "
                             "(default $DEBUGINFOD_URLS)")
    parser.add_argument("input", metavar="FILE", help="stack text ('-' for stdin)")
    parser.add_argument("--format", default="perf-script", choices=FORMATS)
    parser.add_argument("--inlines", action="store_true", help="add inlined frames")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--maps", metavar="FILE", help="a saved /proc/PID/maps of the traced process")
    where.add_argument("--obj", metavar="FILE", help="user addresses are ELF virtual addresses of FILE")
    parser.add_argument("--kallsyms", metavar="FILE", help="kernel symbols (default /proc/kallsyms)")
    parser.add_argument("-o", "--output", metavar="OUT", help="write here instead of stdout")


def run(args: argparse.Namespace) -> int:
    from ..api import write
    from ..session import Session
    from . import open_output

    session = Session(symfs=args.symfs, debug_dirs=args.debug_dir, debuginfod=args.debuginfod, kallsyms=args.kallsyms)
    stacks = session.stacks(args.input, maps=args.maps, obj=args.obj, inlines=args.inlines)
    out = open_output(args.output)
    try:
        write(stacks, args.format, out)
    finally:
        out.close() if args.output else out.flush()
    return 0
