"""`unwind stacks`: symbolise raw stacks (bpftrace ustack/kstack, BCC folded, address lists, build-id entries)."""

from __future__ import annotations

import argparse
import sys

HELP = "symbolise raw address stacks from bpftrace, BCC or plain address lists"
MAX_EXPANDED_SAMPLES = 4_000_000
FORMATS = ("perf-script", "json", "folded", "pprof", "speedscope", "svg")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="FILE", help="stack text ('-' for stdin)")
    parser.add_argument("--format", default="perf-script", choices=FORMATS)
    parser.add_argument("--inlines", action="store_true", help="add inlined frames")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--maps", metavar="FILE", help="a saved /proc/PID/maps of the traced process")
    where.add_argument("--obj", metavar="FILE", help="user addresses are ELF virtual addresses of FILE")
    parser.add_argument("--kallsyms", metavar="FILE", help="kernel symbols (default /proc/kallsyms)")
    parser.add_argument("-o", "--output", metavar="OUT", help="write here instead of stdout")


def run(args: argparse.Namespace) -> int:
    from formats.errors import FormatError
    from formats.profile import ProfileSample, write_profile
    from formats.stacktext import parse_stacks

    from ..modules import ModuleResolver
    from ..kernel import load_kernel_symbols
    from ..rawstacks import RawStackResolver, live_maps, module_map_for_object, module_map_from_maps
    from ..resolve import FrameResolver
    from ..symbolizer import Symbolizer

    text = sys.stdin.read() if args.input == "-" else open(args.input, encoding="utf-8", errors="replace").read()
    stacks = parse_stacks(text, args.input)
    modules = None
    if args.maps:
        with open(args.maps, encoding="utf-8", errors="surrogateescape") as fh:  # paths are bytes, kept as given
            modules = module_map_from_maps(fh.read(), args.maps)
    elif args.obj:
        modules = module_map_for_object(args.obj)
    resolver = ModuleResolver(symfs=args.symfs, debug_dirs=args.debug_dir)
    naming = "llvm" if args.obj else "perf"
    frames = FrameResolver(Symbolizer(debug_dirs=args.debug_dir, inlines=args.inlines, naming=naming), resolver,
                           load_kernel_symbols(args.kallsyms), args.inlines)
    raw = RawStackResolver(frames, resolver, modules, live_maps)
    results = [raw.resolve(stack) for stack in stacks]

    out = open(args.output, "wb") if args.output else sys.stdout.buffer
    try:
        if args.format == "json":
            import json

            for r in results:
                s = r.stack
                obj = {"comm": s.comm, "pid": s.pid, "tid": s.tid, "count": s.count,
                       "frames": [f.to_json() for f in r.frames]}
                out.write(json.dumps(obj, separators=(",", ":")).encode() + b"\n")
        else:
            # A stack seen `count` times is `count` samples, so every writer weighs it right.
            # Until stacks carry their count to the writers, the expansion is bounded: a hostile count
            # (`a;b 2147483648`) is a typed error, not a 16 GiB list.
            total = sum(max(r.stack.count, 1) for r in results)
            if total > MAX_EXPANDED_SAMPLES:
                raise FormatError(f"stack counts add up to {total} samples, more than the {MAX_EXPANDED_SAMPLES} "
                                  f"this output expands", args.input)
            samples = []
            for r in results:
                s = r.stack
                sample = ProfileSample(s.comm or "", s.pid or 0, s.tid or 0, 0, 1,
                                       tuple(f.to_profile() for f in r.frames))
                samples += [sample] * max(s.count, 1)
            out.write(write_profile(samples, args.format))
    finally:
        if args.output:
            out.close()
        else:
            out.flush()
    return 0
