"""`unwind simulate BINARY -o OUT.perf.data [-- ARGS]`: sample a run under the emulator, with exact ground truth."""

from __future__ import annotations

import argparse
import sys
from typing import TypeVar

T = TypeVar("T")

HELP = "run a program under the emulator and write a perf.data with LBR plus OUT.perf.data.truth.jsonl"


def _options(parser: argparse.ArgumentParser, defaults: bool = True) -> None:
    """The options; without `defaults` they set only what is given (for options written after BINARY)."""
    def d(value: T) -> T | str:
        return value if defaults else argparse.SUPPRESS

    parser.add_argument("-o", "--output", default=d(None), metavar="OUT", help="the perf.data to write (required)")
    parser.add_argument("--period", type=int, default=d(10_000), metavar="N", help="instructions between samples")
    parser.add_argument("--lbr-depth", type=int, default=d(32), choices=(4, 8, 16, 32), metavar="D",
                        help="LBR call-stack entries: 4, 8, 16 or 32 (default)")
    parser.add_argument("--lbr-mode", default=d("call_stack"), choices=("call_stack", "any"),
                        help="call_stack: calls push, returns pop (default); any: the last D taken branches")
    parser.add_argument("--max-samples", type=int, default=d(None), metavar="K", help="stop after K samples")
    parser.add_argument("--seed", type=int, default=d(0), metavar="S", help="seeds the period jitter and getrandom")
    parser.add_argument("--env", action="append", default=d([]), metavar="NAME=VALUE",
                        help="the program's environment, repeatable (default: only LC_ALL=C, so runs repeat)")
    parser.add_argument("--stdin", default=d(None), metavar="FILE",
                        help="what the program reads on fd 0 (default: EOF)")
    parser.add_argument("--vdso", action="store_true", default=d(False),
                        help="map this host's vDSO (clock calls fall back to syscalls); "
                             "samples then depend on the host")
    parser.add_argument("--exec-path", default=d(None), metavar="PATH",
                        help="the path the program sees as its own and the recording names (default: the file's "
                             "absolute path); find the file again with --symfs, as perf does")
    parser.add_argument("--stack-size", type=int, default=d(8192), metavar="BYTES",
                        help="user stack bytes per sample, as perf --call-graph dwarf,SIZE (max 65528)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("binary", metavar="BINARY", help="static or dynamic x86-64 Linux executable")
    _options(parser)
    # argparse cannot mix options after a positional with a trailing `-- ARGS`: take the rest and split it in run().
    parser.add_argument("rest", nargs=argparse.REMAINDER, metavar="[options] -- ARGS",
                        help="options may follow BINARY; the program's arguments come after --")


def split_rest(args: argparse.Namespace) -> list[str]:
    """Apply options written after BINARY to `args`; return the program's arguments."""
    rest: list[str] = list(args.rest)
    if "--" in rest:
        cut = rest.index("--")
        ours, program = rest[:cut], rest[cut + 1:]
    else:
        ours, program = rest, []
    late = argparse.ArgumentParser(prog="unwind simulate", add_help=False)
    _options(late, defaults=False)
    late.add_argument("--symfs", default=argparse.SUPPRESS)
    parsed, unknown = late.parse_known_args(ours, namespace=args)
    return unknown + program


def run(args: argparse.Namespace) -> int:
    from ..sim.record import record

    from ..errors import UsageError

    program_args = split_rest(args)
    if not args.output:
        raise UsageError("-o OUT.perf.data is required")
    summary = record(args.binary, args.output, program_args, period=args.period, seed=args.seed,
                     max_samples=args.max_samples, lbr_depth=args.lbr_depth, stack_size=args.stack_size,
                     sysroot=args.symfs, lbr_mode=args.lbr_mode, env=args.env or None,
                     stdin=open(args.stdin, "rb").read() if args.stdin else b"", vdso=args.vdso,
                     exec_path=args.exec_path)
    sys.stdout.buffer.write(summary.stdout)
    sys.stdout.flush()
    sys.stderr.buffer.write(summary.stderr)
    report = summary.report
    if report.signal is not None:
        status = f"killed by signal {report.signal}"
    elif report.exit_code is None:
        status = "stopped at --max-samples"
    else:
        status = f"exit {report.exit_code}"
    print(f"unwind simulate: {summary.samples} samples, {summary.instructions} instructions, {status}; "
          f"wrote {args.output} and {summary.truth_path}", file=sys.stderr)
    if report.fault:
        print(f"unwind simulate: fault: {report.fault}", file=sys.stderr)
    for what, count in sorted(report.unsupported.items()):
        print(f"unwind simulate: unsupported: {what} x{count}", file=sys.stderr)
    return 0
