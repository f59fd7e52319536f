"""`unwind pid PID`: every thread of a running process, like `eu-stack -p PID`."""

from __future__ import annotations

import argparse
import sys

HELP = "unwind every thread of a running process (text like eu-stack -p, or JSON)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debuginfod", metavar="URL",
                        help="debuginfod server(s), space separated, for debug files by build-id "
                             "(default $DEBUGINFOD_URLS)")
    parser.add_argument("pid", metavar="PID", type=int, help="the process id")
    parser.add_argument("--unwinder", default="auto", help="fp, dwarf, orc, auto, scan (default: auto)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--inlines", action="store_true", help="JSON: one frame per inlined function too")
    parser.add_argument("-r", "--raw", action="store_true", help="text: mangled names, as eu-stack -r")
    parser.add_argument("--max-depth", "--max-stack", type=int, default=256, metavar="N",
                        help="frames per thread at most (default 256)")


def run(args: argparse.Namespace) -> int:
    from ..session import Session

    as_json = args.format == "json"
    session = Session(symfs=args.symfs, debug_dirs=args.debug_dir, debuginfod=args.debuginfod)
    threads = session.pid(
        args.pid, args.unwinder, inlines=args.inlines and as_json, max_depth=args.max_depth, debug_info=as_json)
    if as_json:
        from formats.stack import write_threads_json

        sys.stdout.write(write_threads_json(threads))
    else:
        from ..eustack import eu_stack_lines

        sys.stdout.writelines(eu_stack_lines(args.pid, "process", threads, raw=args.raw,
                                          demangler=session.demangler))
    session.flush()  # frame-0 analyses the walks made, for the next run
    return 0
