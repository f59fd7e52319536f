"""`unwind core CORE`: every thread of an ELF core file, like `eu-stack --core` / gdb `thread apply all bt`."""

from __future__ import annotations

import argparse
import sys

HELP = "unwind every thread of an ELF core file (text like eu-stack --core, or JSON)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debuginfod", metavar="URL",
                        help="debuginfod server(s), space separated, for debug files by build-id "
                             "(default $DEBUGINFOD_URLS)")
    parser.add_argument("core", metavar="CORE", help="the core file (kernel dump or gdb gcore)")
    parser.add_argument("--exe", metavar="FILE", help="the executable, when the path recorded in the core is wrong")
    parser.add_argument("--unwinder", default="auto", help="fp, dwarf, orc, lbr, auto, scan (default: auto)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--inlines", action="store_true", help="JSON: one frame per inlined function too")
    parser.add_argument("--scan", action="store_true", help="auto: fall back to a stack scan (call-checked)")
    parser.add_argument("--max-depth", "--max-stack", type=int, default=256, metavar="N",
                        help="frames per thread at most")
    parser.add_argument("-r", "--raw", action="store_true", help="text: mangled names, as eu-stack -r")


def run(args: argparse.Namespace) -> int:
    from ..session import Session

    json_out = args.format == "json"
    session = Session(symfs=args.symfs, debug_dirs=args.debug_dir, debuginfod=args.debuginfod)
    threads = session.core(args.core, exe=args.exe, unwinder=args.unwinder, inlines=args.inlines and json_out,
                           max_depth=args.max_depth, scan=args.scan, debug_info=json_out)
    if json_out:
        from formats.stack import write_threads_json

        sys.stdout.write(write_threads_json(threads))
    else:
        from ..eustack import eu_stack_lines

        sys.stdout.writelines(eu_stack_lines(threads[0].pid if threads else None, "core", threads, args.raw,
                                          demangler=session.demangler))
    session.flush()  # frame-0 analyses the walks made, for the next run
    return 0
