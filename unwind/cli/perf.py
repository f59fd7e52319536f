"""`unwind perf`: unwind and symbolise every sample of a perf.data recording."""

from __future__ import annotations

import argparse
import sys

HELP = "unwind and symbolise the samples of a perf.data file"
FORMATS = ("perf-script", "json", "folded", "pprof", "speedscope", "svg")
WITHOUT_LINES = ("perf-script", "folded")  # formats that print no source file or line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("perf_data", metavar="PERF.DATA")
    parser.add_argument("--unwinder", default="dwarf", help="fp, dwarf, orc, lbr, auto (default dwarf)")
    parser.add_argument("--format", default="perf-script", choices=FORMATS)
    parser.add_argument("--inlines", action="store_true", help="add inlined frames")
    parser.add_argument("--kallsyms", metavar="FILE",
                        help="kernel symbols (kallsyms or System.map; default /proc/kallsyms)")
    parser.add_argument("--like-perf", action="store_true",
                        help="reproduce perf 6.1's stack-copy bound (ignores the last 8 bytes) for diffable output")
    parser.add_argument("-o", "--output", metavar="OUT", help="write here instead of stdout")


def run(args: argparse.Namespace) -> int:
    from formats.profile import write_profile

    from ..modules import ModuleResolver
    from ..perfsession import PerfSession
    from ..kernel import load_kernel_symbols
    from ..pipeline import SampleResolver
    from ..progress import progress
    from ..symbolizer import Symbolizer
    from ..unwinders import get_unwinder

    resolver = ModuleResolver(symfs=args.symfs, debug_dirs=args.debug_dir)
    unwinder = get_unwinder(args.unwinder, resolver=resolver)
    symbolizer = Symbolizer(debug_dirs=args.debug_dir, inlines=args.inlines, naming="perf")
    pipeline = SampleResolver(unwinder, symbolizer, resolver, load_kernel_symbols(args.kallsyms), args.inlines,
                              like_perf=args.like_perf, lines=args.format not in WITHOUT_LINES)
    session = PerfSession(args.perf_data)
    results = (pipeline.resolve(sample) for sample in progress(session.samples(), "unwinding"))

    out = open(args.output, "wb") if args.output else sys.stdout.buffer
    try:
        if args.format == "json":
            import json

            for result in results:
                out.write(json.dumps(result.to_json(), separators=(",", ":")).encode() + b"\n")
        else:
            out.write(write_profile((r.profile for r in results), args.format))
    finally:
        if args.output:
            out.close()
        else:
            out.flush()
    stats = session.reader.stats
    if stats.skipped:
        first = stats.skips[0]
        print(f"unwind perf: skipped {stats.skipped} damaged or unreadable records "
              f"(first at offset {first.offset:#x}: {first.reason})", file=sys.stderr)
    return 0
