"""`unwind core CORE`: every thread of an ELF core file, like `eu-stack --core` / gdb `thread apply all bt`."""

from __future__ import annotations

import inspect
import json
import sys

HELP = "unwind every thread of an ELF core file (text like eu-stack --core, or JSON)"


def add_arguments(parser) -> None:
    parser.add_argument("core", metavar="CORE", help="the core file (kernel dump or gdb gcore)")
    parser.add_argument("--exe", metavar="FILE", help="the executable, when the path recorded in the core is wrong")
    parser.add_argument("--unwinder", default="auto", help="fp, dwarf, orc, lbr, auto, scan (default: auto)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--inlines", action="store_true", help="JSON: one frame per inlined function too")
    parser.add_argument("--scan", action="store_true", help="auto: fall back to a stack scan (call-checked)")
    parser.add_argument("--max-depth", "--max-stack", type=int, default=256, metavar="N",
                        help="frames per thread at most")
    parser.add_argument("-r", "--raw", action="store_true", help="text: mangled names, as eu-stack -r")


def run(args) -> int:
    from ..core import FrameNamer, load_core
    from ..eustack import eu_stack_lines
    from ..unwinders import get_unwinder

    process = load_core(args.core, exe=args.exe, symfs=args.symfs, debug_dirs=args.debug_dir)
    options = {"resolver": process.resolver, "max_depth": args.max_depth}
    if args.scan:
        options["scan"] = True
    unwinder = _make(get_unwinder, args.unwinder, options)
    takes_memory = "memory" in inspect.signature(unwinder.unwind).parameters
    namer = FrameNamer(process.resolver, args.symfs, args.debug_dir)
    threads = []
    for sample in process.samples:
        if takes_memory:
            trace = unwinder.unwind(sample, memory=process.memory_for(sample))
        else:
            trace = unwinder.unwind(sample)
        frames = []
        for frame in trace.frames:
            frames.extend(namer.describe(frame, sample.modules, args.inlines and args.format == "json",
                                         debug_info=args.format == "json"))
        threads.append({"tid": sample.tid, "frames": frames, "stop": str(trace.stop)})
    out = sys.stdout
    if args.format == "json":
        json.dump({"threads": threads}, out)
        out.write("\n")
        return 0
    out.writelines(eu_stack_lines(process.core.pid, "core", threads, args.raw))
    return 0


def _make(get_unwinder, name: str, options: dict):
    """The unwinder, given only the options its factory accepts."""
    try:
        return get_unwinder(name, **options)
    except TypeError:
        options = {k: v for k, v in options.items() if k != "scan"}
        try:
            return get_unwinder(name, **options)
        except TypeError:
            return get_unwinder(name)
