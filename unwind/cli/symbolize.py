"""`unwind symbolize`: a drop-in for llvm-symbolizer (same flags, same LLVM/GNU/JSON output)."""

from __future__ import annotations

import argparse
import os
import sys

HELP = "symbolise ELF virtual addresses like llvm-symbolizer"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("addresses", nargs="*", metavar="ADDR",
                        help="addresses (0x hex, 0 octal, else decimal); read from stdin when none")
    parser.add_argument("--obj", "--exe", "-e", dest="obj", metavar="FILE", help="object file to symbolise")
    parser.add_argument("--inlines", "--inlining", "-i", dest="inlines", nargs="?", const="true", default="true",
                        choices=["true", "false"], help="print all inlined frames (default)")
    parser.add_argument("--no-inlines", dest="inlines", action="store_const", const="false")
    parser.add_argument("--demangle", "-C", dest="demangle", action="store_true", default=True)
    parser.add_argument("--no-demangle", dest="demangle", action="store_false")
    parser.add_argument("--functions", "-f", nargs="?", const="linkage", default="linkage",
                        choices=["none", "short", "linkage"], help="print function names")
    parser.add_argument("--output-style", type=str.upper, default="LLVM", choices=["LLVM", "GNU", "JSON"])
    parser.add_argument("--addresses", "--print-address", "-a", dest="print_address", action="store_true")
    parser.add_argument("--pretty-print", "-p", action="store_true")
    parser.add_argument("--basenames", "-s", action="store_true", help="strip directories from paths")
    parser.add_argument("--relativenames", action="store_true", help="strip the compilation directory")
    parser.add_argument("--debug-file-directory", action="append", default=[], metavar="DIR")
    parser.add_argument("--adjust-vma", type=lambda s: int(s, 0), default=0, metavar="OFFSET")
    parser.add_argument("--verbose", action="store_true")


def run(args: argparse.Namespace) -> int:
    from ..symbolize_output import Printer, parse_request
    from ..symbolizer import Symbolizer

    symbolizer = Symbolizer(symfs=args.symfs, debug_dirs=args.debug_file_directory + args.debug_dir,
                            demangle=args.demangle, inlines=args.inlines == "true",
                            symbol_table=args.functions == "linkage",  # LLVM overrides only linkage names
                            cache_size=0)  # addresses on a command line rarely repeat
    printer = Printer(args, sys.stdout)
    batches = [args.addresses] if args.addresses else _stdin_batches()
    for batch in batches:
        requests = [parse_request(text, args.obj) for text in batch]
        answers = _symbolize_batch(symbolizer, [r for r in requests if r is not None], args.adjust_vma)
        for text, request in zip(batch, requests):
            if request is None:
                printer.unparsable(text, args.obj)
                continue
            path, address = request
            frames = answers[request]
            if isinstance(frames, Exception):
                printer.failure(path, address, _describe(frames))
            else:
                printer.frames(path, address, frames)
        sys.stdout.flush()  # a driver waiting for this batch's answers gets them now
    printer.close()
    return 0


def _symbolize_batch(symbolizer, requests, adjust: int) -> dict:
    """(path, address) -> frames, or the error that file gives; one symbolizer call per file."""
    from ..errors import UnwindError

    by_path: dict[str, list[int]] = {}
    for path, address in requests:
        by_path.setdefault(path, []).append(address)
    answers: dict = {}
    for path, addresses in by_path.items():
        try:
            results = symbolizer.symbolize(path, [a - adjust for a in addresses])
        except (OSError, UnwindError) as exc:
            results = [exc] * len(addresses)
        answers.update(((path, a), r) for a, r in zip(addresses, results))
    return answers


def _stdin_batches():
    """Lines of stdin, grouped by what one read returned: answer a batch, then flush once."""
    pending = b""
    while chunk := os.read(sys.stdin.fileno(), 1 << 16):
        *lines, pending = (pending + chunk).split(b"\n")
        yield [line.decode("utf-8", "surrogateescape").rstrip("\r") for line in lines]
    if pending:
        yield [pending.decode("utf-8", "surrogateescape").rstrip("\r")]


def _describe(exc: Exception) -> str:
    if isinstance(exc, FileNotFoundError):
        return "No such file or directory"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    from formats.errors import NotELFError

    if isinstance(exc, NotELFError):
        return "The file was not recognized as a valid object file"
    return str(exc)
