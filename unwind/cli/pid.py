"""`unwind pid PID`: every thread of a running process, like `eu-stack -p PID`."""

from __future__ import annotations

import argparse
import sys

HELP = "unwind every thread of a running process (text like eu-stack -p, or JSON)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pid", metavar="PID", type=int, help="the process id")
    parser.add_argument("--unwinder", default="auto", help="fp, dwarf, orc, auto, scan (default: auto)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--inlines", action="store_true", help="JSON: one frame per inlined function too")
    parser.add_argument("-r", "--raw", action="store_true", help="text: mangled names, as eu-stack -r")
    parser.add_argument("--max-depth", "--max-stack", type=int, default=256, metavar="N",
                        help="frames per thread at most (default 256)")


def run(args: argparse.Namespace) -> int:
    from ..core import FrameNamer
    from ..errors import UsageError
    from ..eustack import describe_threads, eu_stack_lines
    from ..live import unwind_process
    from ..symbolizer import Symbolizer

    if args.max_depth < 1:
        raise UsageError(f"--max-depth must be at least 1, not {args.max_depth}")
    process = unwind_process(args.pid, args.unwinder, symfs=args.symfs, debug_dirs=args.debug_dir,
                             max_depth=args.max_depth)
    namer = FrameNamer(process.resolver, Symbolizer(symfs=args.symfs, debug_dirs=args.debug_dir))
    as_json = args.format == "json"
    threads = describe_threads(((t.sample, t.trace) for t in process.threads), namer,
                               inlines=args.inlines and as_json, debug_info=as_json)
    if as_json:
        from formats.stack import write_threads_json

        sys.stdout.write(write_threads_json(threads))
    else:
        sys.stdout.writelines(eu_stack_lines(process.pid, "process", threads, raw=args.raw))
    return 0
