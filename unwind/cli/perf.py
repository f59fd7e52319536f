"""`unwind perf`: unwind and symbolise every sample of a perf.data recording."""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from struct import Struct

HELP = "unwind and symbolise the samples of a perf.data file"
FORMATS = ("perf-script", "json", "folded", "pprof", "speedscope", "svg")
WITHOUT_LINES = ("perf-script", "folded")  # formats that print no source file or line
STREAMED = ("perf-script", "json")  # one sample's text after another: chunks can be made in parallel
CHUNK = 64  # samples per chunk of parallel work
PARALLEL_BYTES = 4 << 20  # recordings smaller than this run in one process
MAX_WORKERS = 4
MARKED = ("folded", "pprof", "speedscope", "svg")  # profiles whose truncated stacks get a [truncated] root
COUNT = Struct("<Q")  # a rendered chunk ends with its number of truncated samples


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("perf_data", metavar="PERF.DATA")
    parser.add_argument("--unwinder", default="dwarf", help="fp, dwarf, orc, lbr, auto (default dwarf)")
    parser.add_argument("--format", default="perf-script", choices=FORMATS)
    parser.add_argument("--inlines", action="store_true", help="add inlined frames")
    parser.add_argument("--kallsyms", metavar="FILE",
                        help="kernel symbols (kallsyms or System.map; default /proc/kallsyms)")
    parser.add_argument("--like-perf", action="store_true",
                        help="reproduce perf 6.1's stack-copy bound (ignores the last 8 bytes) for diffable output")
    parser.add_argument("--stitch", action="store_true",
                        help="complete stacks cut by the end of the stack copy from other samples of the same "
                             "thread (the unwinder's -stitched variant; one process)")
    parser.add_argument("--no-truncated-marker", action="store_true",
                        help="no synthetic [truncated] root frame in folded/pprof/speedscope/svg output")
    parser.add_argument("--max-stack", "--max-depth", type=int, default=127, metavar="N", dest="max_stack",
                        help="user frames per sample at most (default 127, perf's kernel.perf_event_max_stack)")
    parser.add_argument("-o", "--output", metavar="OUT", help="write here instead of stdout")
    parser.add_argument("-j", "--jobs", type=int, default=0, metavar="N",
                        help="processes for perf-script/json output (default: the usable CPUs, up to "
                             f"{MAX_WORKERS}, for recordings of {PARALLEL_BYTES >> 20} MiB or more; 1 = no fork)")


def run(args: argparse.Namespace) -> int:
    import gc
    from functools import partial

    from ..modules import ModuleResolver
    from ..kernel import load_kernel_symbols
    from ..perfsession import PerfSession
    from ..progress import progress
    from ..pipeline import SampleResolver
    from ..symbolizer import Symbolizer
    from ..unwinders import get_unwinder

    from ..errors import UsageError
    from ..stitch import stitched_name

    resolver = ModuleResolver(symfs=args.symfs, debug_dirs=args.debug_dir)
    name = args.unwinder
    if args.stitch:
        name = stitched_name(args.unwinder) or ""
        if not name:
            raise UsageError(f"--stitch: unwinder {args.unwinder!r} has no stitched variant (dwarf, fp, lbr have)")
    if args.max_stack < 1:
        raise UsageError(f"--max-stack {args.max_stack}: must be at least 1")
    unwinder = get_unwinder(name, resolver=resolver, max_depth=args.max_stack)
    symbolizer = Symbolizer(debug_dirs=args.debug_dir, inlines=args.inlines, naming="perf")
    pipeline = SampleResolver(unwinder, symbolizer, resolver, load_kernel_symbols(args.kallsyms), args.inlines,
                              like_perf=args.like_perf, lines=args.format not in WITHOUT_LINES,
                              truncated_marker=args.format in MARKED and not args.no_truncated_marker)
    # A run allocates millions of short-lived objects and few cycles: collect rarely.
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    session = PerfSession(args.perf_data)
    samples = progress(session.samples(), "unwinding")
    out = open(args.output, "wb") if args.output else sys.stdout.buffer
    counts = Counter()
    try:
        if args.stitch:  # one stream: each thread's samples complete each other
            for chunk in _batched(pipeline.resolve_all(samples), CHUNK if args.format in STREAMED else 1 << 62):
                out.write(_write(args.format, chunk, counts))
        elif args.format in STREAMED:
            from ..fanout import fan_out

            render = partial(_render, pipeline, args.format)
            for data in fan_out(_batched(samples, CHUNK), render, args.jobs or _workers(args.perf_data)):
                counts["truncated"] += COUNT.unpack_from(data, len(data) - COUNT.size)[0]
                out.write(data[:-COUNT.size])
        else:
            out.write(_write(args.format, [pipeline.resolve(sample) for sample in samples], counts))
    finally:
        if args.output:
            out.close()
        else:
            out.flush()
    stitcher = getattr(unwinder, "stitcher", None)
    if stitcher is not None:
        st = stitcher.stats
        print(f"unwind perf: {st.truncated} samples truncated by the stack copy, {st.stitched} stitched "
              f"({st.completed} now complete), {st.ambiguous} ambiguous", file=sys.stderr)
    elif counts["truncated"]:
        print(f"unwind perf: {counts['truncated']} samples truncated by the stack copy "
              "(--stitch completes them from other samples of the same thread)", file=sys.stderr)
    stats = session.reader.stats
    if stats.skipped:
        first = stats.skips[0]
        print(f"unwind perf: skipped {stats.skipped} damaged or unreadable records "
              f"(first at offset {first.offset:#x}: {first.reason})", file=sys.stderr)
    return 0


def _workers(path: str) -> int:
    """Several processes for recordings big enough to repay a fork, one otherwise."""
    from ..fanout import usable_cpus

    try:
        size = os.stat(path).st_size if os.path.isfile(path) else 0
    except OSError:
        size = 0
    return min(usable_cpus(), MAX_WORKERS) if size >= PARALLEL_BYTES else 1


def _batched(items, size: int):
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _render(pipeline, fmt: str, samples: list) -> bytes:
    """One chunk of samples unwound, symbolised and printed, then its count of truncated samples (COUNT)."""
    counts: Counter = Counter()
    data = _write(fmt, [pipeline.resolve(sample) for sample in samples], counts)
    return data + COUNT.pack(counts["truncated"])


def _write(fmt: str, results: list, counts: Counter) -> bytes:
    """Resolved samples printed; `counts["truncated"]` grows by the truncated ones."""
    counts["truncated"] += sum(r.truncated for r in results)
    if fmt == "json":
        import json

        return b"".join(json.dumps(r.to_json(), separators=(",", ":")).encode() + b"\n" for r in results)
    from formats.profile import write_profile

    return write_profile([r.profile for r in results], fmt)
