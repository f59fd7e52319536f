"""`unwind symbolize`: a drop-in for llvm-symbolizer 14 (same options, parsed by LLVM's rules; same output)."""

# Annotations are evaluated at import (no `from __future__ import annotations`): typing compiles the
# string annotation of every NamedTuple field, ~0.5 M instructions each (NOTES.md, issue 16).

import io
import os
import sys
from types import SimpleNamespace
from typing import TYPE_CHECKING, Iterable, Iterator

if TYPE_CHECKING:
    import argparse

    from formats.stack import Frame

    from ..frame_locals import FrameLocal
    from ..symbolize_output import Printer, Request
    from ..symbolizer import Symbolizer
    from ._llvm_options import SymbolizeArgs

HELP = "symbolise ELF virtual addresses like llvm-symbolizer"
VERSION = "unwind symbolize (llvm-symbolizer 14 compatible)"
_MASK = (1 << 64) - 1


class Answers:
    """A batch's answers: each request is in exactly one of these, by its kind, or in `errors` when its file
    gave one.  (A plain class: a NamedTuple's field annotations naming these types would be compiled.)"""

    __slots__ = ("frames", "variables", "data", "errors")

    def __init__(self) -> None:
        self.frames: dict[Request, list[Frame]] = {}  # CODE
        self.variables: dict[Request, list[FrameLocal]] = {}  # FRAME
        self.data: dict[Request, tuple[str | None, int, int]] = {}  # DATA: (name, start, size)
        self.errors: dict[Request, Exception] = {}


def add_arguments(parser: "argparse.ArgumentParser") -> None:
    """For `unwind --help` only: the real parsing is LLVM's (parse_argv)."""
    parser.add_argument("addresses", nargs="*", metavar="ADDR",
                        help="addresses, or FILE ADDR / CODE / DATA lines on stdin; every llvm-symbolizer 14 option")


def parse_argv(argv: list[str]) -> SimpleNamespace:
    """The subcommand's arguments, parsed as llvm-symbolizer 14 parses its own (unwind/cli/_llvm_options.py);
    argparse is not imported."""
    from ._llvm_options import parse

    return SimpleNamespace(command="symbolize", run=run, llvm=parse(argv))


def run(args: "argparse.Namespace | SimpleNamespace") -> int:
    from ..debuginfo import debuginfod_client
    from ..symbolize_output import Invalid, PrintOptions, Printer, parse_request
    from ..symbolizer import Symbolizer

    o: SymbolizeArgs = args.llvm
    if o.errors or o.fatal:
        for message in o.errors:
            print(f"error: {message}", file=sys.stderr)
        if o.fatal and not o.errors:
            sys.stderr.write(o.fatal)
        return 1
    if o.help:
        sys.stdout.write(_help())
        return 0
    if o.version:
        sys.stdout.write(f"unwind symbolize\n{VERSION}\n")
        return 0
    for hint in o.dsym_hints:
        if not hint.endswith(".dSYM"):
            print(f'Warning: invalid dSYM hint: "{hint}" (must have the \'.dSYM\' extension).', file=sys.stderr)
    symbolizer = Symbolizer(symfs=o.symfs, debug_dirs=o.debug_file_directory + o.debug_dir,
                            demangle=o.demangle, inlines=o.inlines,
                            symbol_table=o.functions == "linkage",  # LLVM overrides only linkage names
                            short_names=o.functions == "short",
                            relative_names=o.relativenames, base_names=o.basenames, dwp=o.dwp,
                            fallback_debug_path=o.fallback_debug_path,
                            debuginfod=debuginfod_client(o.debuginfod),
                            cache_size=0)  # addresses on a command line rarely repeat
    if isinstance(sys.stdout, io.TextIOWrapper):
        # llvm-symbolizer prints a name's bytes as the binary holds them, whatever the locale: so do we
        # (formats/text.py: names keep undecodable bytes as surrogateescape).
        sys.stdout.reconfigure(encoding="utf-8", errors="surrogateescape")
    embedded = None
    if o.context_lines > 0:  # source text from the DWARF 5 line table (imports the DWARF readers)
        from ..embedded_source import EmbeddedSources

        embedded = EmbeddedSources().lookup
    printer = Printer(PrintOptions(o.output_style, o.functions, o.pretty_print, o.print_address, o.verbose,
                                   o.basenames, o.context_lines, listed=bool(o.inputs)), sys.stdout,
                      embedded=embedded)
    failed: set[str] = set()  # modules whose error was printed: later requests answer empty, as LLVM
    blocks: Iterable[bytes | list[str]] = [list(o.inputs)] if o.inputs else _stdin_blocks()
    for block in blocks:
        if isinstance(block, bytes):
            if o.obj and _answer_plain(symbolizer, printer, o, o.obj, block):
                continue
            batch = [_line(raw) for raw in block.split(b"\n")]
        else:
            batch = block
        requests = [parse_request(text, o.obj) for text in batch]
        answers = _symbolize_batch(symbolizer, [r for r in requests if not isinstance(r, Invalid)], o)
        for request in requests:
            if isinstance(request, Invalid):
                printer.unparsable(request)
                continue
            error = answers.errors.get(request)
            if error is not None and request.module not in failed:
                failed.add(request.module)
                printer.failure(request, _describe(error))
                continue
            # a request to a file whose error was printed already answers empty
            if request.command == "DATA":
                name, start, size = answers.data[request] if error is None else (None, 0, 0)
                printer.data(request.module, request.address, name, start, size)
            elif request.command == "FRAME":
                printer.frame_locals(request.module, request.address,
                                     answers.variables[request] if error is None else [])
            else:
                printer.frames(request.module, request.address, answers.frames[request] if error is None else [])
        printer.flush()  # a driver waiting for this batch's answers gets them now
    printer.close()
    return 0


def _answer_plain(symbolizer: "Symbolizer", printer: "Printer", o: "SymbolizeArgs", obj: str, block: bytes) -> bool:
    """The common batch, answered in one pass: every line a plain hex address of the --obj file (what a
    driver sends).  False, with nothing printed, for any other block, or when the file gives an error
    (the general path prints those)."""
    from ..errors import UnwindError
    from ..symbolize_output import plain_addresses

    addresses = plain_addresses(block)
    if addresses is None:
        return False
    gnu_innermost = not o.inlines and o.output_style == "GNU"  # LLVM 14: frame 0 of the inlined answer
    vaddrs = [(a - o.adjust_vma) & _MASK for a in addresses] if o.adjust_vma else addresses
    try:
        results = symbolizer.symbolize(obj, vaddrs, inlines=o.inlines or gnu_innermost)
    except (OSError, UnwindError):
        return False
    printer.frames_many(obj, addresses, [frames[:1] for frames in results] if gnu_innermost else results)
    printer.flush()
    return True


def _symbolize_batch(symbolizer: "Symbolizer", requests: "list[Request]", o: "SymbolizeArgs") -> Answers:
    """Every request's answer, or the error its file gives (then for every request to that file); one
    symbolize call per file."""
    from ..errors import UnwindError

    answers = Answers()
    by_path: dict[str, list[Request]] = {}
    for request in requests:
        by_path.setdefault(request.module, []).append(request)
    gnu_innermost = not o.inlines and o.output_style == "GNU"  # LLVM 14: frame 0 of the inlined answer
    for path, group in by_path.items():
        code = [r for r in group if r.command == "CODE"]
        mine = Answers()  # kept only if the whole file answers
        try:
            if code:
                results = symbolizer.symbolize(path, [(r.address - o.adjust_vma) & _MASK for r in code],
                                               inlines=o.inlines or gnu_innermost)
                for request, frames in zip(code, results):
                    mine.frames[request] = frames[:1] if gnu_innermost else frames
            for request in group:
                if request.command == "DATA":
                    mine.data[request] = _data(symbolizer, path, (request.address - o.adjust_vma) & _MASK)
                elif request.command == "FRAME":
                    mine.variables[request] = symbolizer.frame_locals(path, (request.address - o.adjust_vma) & _MASK)
        except (OSError, UnwindError) as exc:
            answers.errors.update((r, exc) for r in group)
            continue
        answers.frames.update(mine.frames)
        answers.variables.update(mine.variables)
        answers.data.update(mine.data)
    return answers


def _data(symbolizer: "Symbolizer", path: str, address: int) -> tuple[str | None, int, int]:
    """A DATA request: the symbol-table entry covering `address`, LLVM's DIGlobal (name, start, size)."""
    found = symbolizer.module(path).symbol_at(address)
    if found is None:
        return None, 0, 0
    name, start, size, _ = found
    if name and symbolizer.demangle:
        name = symbolizer.demangler.llvm(name)
    return name, start, size


def _stdin_blocks() -> Iterator[bytes]:
    """Whole lines of stdin, grouped by what one read returned (newline-separated, the last newline cut):
    answer a block, then flush once."""
    pending = b""
    while chunk := os.read(sys.stdin.fileno(), 1 << 16):
        data = pending + chunk
        cut = data.rfind(b"\n")
        if cut >= 0:
            yield data[:cut]
            data = data[cut + 1:]
        pending = data
    if pending:
        yield pending


def _line(raw: bytes) -> str:
    """LLVM strips every CR and LF of the line it read."""
    return raw.decode("utf-8", "surrogateescape").replace("\r", "")


def _describe(exc: Exception) -> str:
    from formats.errors import FileError, NotELFError, StringTableError

    if isinstance(exc, FileError):
        return exc.strerror
    if isinstance(exc, FileNotFoundError):
        return "No such file or directory"
    if isinstance(exc, IsADirectoryError):
        return "Is a directory"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    if isinstance(exc, NotELFError):
        return "The file was not recognized as a valid object file"
    if isinstance(exc, StringTableError):
        return exc.message  # LLVM's words, without our file prefix
    return str(exc)


def _help() -> str:
    from ._llvm_options import OPTIONS

    spellings = sorted({spelling for spelling, _, _ in OPTIONS}, key=lambda s: s.lstrip("-").lower())
    return ("OVERVIEW: unwind symbolize (llvm-symbolizer 14 compatible)\n\n"
            "USAGE: unwind symbolize [options] addresses...\n\nOPTIONS:\n"
            + "".join(f"  {s}\n" for s in spellings)
            + "\nPass @FILE as argument to read options from FILE.\n")
