"""The `unwind` command: one module per subcommand in this package, found by name.

A subcommand module defines `HELP` (one line), `add_arguments(parser)` and `run(args) -> int`;
one that imitates another tool's command line (symbolize) also defines `parse_argv(argv) -> Namespace`.
It keeps heavy imports inside `run` so that `unwind symbolize` starts fast; argparse is imported only by
the commands it parses (symbolize parses by LLVM's rules and never imports it).
"""

from __future__ import annotations

import os
import sys
import warnings
from importlib import import_module
from types import ModuleType
from typing import TYPE_CHECKING, BinaryIO

from ..errors import PeerWarning, UnwindError

if TYPE_CHECKING:
    import argparse


def _command_names() -> list[str]:
    """Subcommand modules of this package (a directory listing: cheaper at start-up than pkgutil)."""
    return sorted(name[:-3].replace("_", "-") for name in os.listdir(__path__[0])
                  if name.endswith(".py") and not name.startswith("_"))


def _load(name: str) -> ModuleType:
    return import_module(f"{__name__}.{name.replace('-', '_')}")


def open_output(path: str | None) -> BinaryIO:
    """The -o file (the caller closes it), or stdout's buffer."""
    if path is None:
        return sys.stdout.buffer
    try:
        return open(path, "wb")
    except OSError as exc:
        raise UnwindError(f"{path}: {exc.strerror or exc}") from exc


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--symfs", metavar="DIR", help="look binaries up under DIR first, as perf does")
    parser.add_argument("--debug-dir", metavar="DIR", action="append", default=[],
                        help="a build-id debug tree such as /usr/lib/debug (repeatable)")


def _columns() -> int:
    """shutil.get_terminal_size().columns: $COLUMNS, else the width of the terminal on fd 1, else 80."""
    text = os.environ.get("COLUMNS", "").strip()  # as int() reads it (other digit forms count as unset)
    if text.isascii() and text.isdigit() and int(text) > 0:
        return int(text)
    try:
        return os.get_terminal_size(1).columns or 80
    except OSError:  # fd 1 closed or not a terminal
        return 80


def _formatter() -> type[argparse.HelpFormatter]:
    """argparse's help formatter given shutil's width: argparse works it out with `import shutil` (which
    imports bz2, lzma and fnmatch) each time it makes a formatter, on every run, help or not."""
    import argparse

    class _Formatter(argparse.HelpFormatter):
        def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                     width: int | None = None) -> None:
            super().__init__(prog, indent_increment, max_help_position, _columns() - 2 if width is None else width)

    return _Formatter


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; with `only`, just that subcommand is imported."""
    import argparse

    formatter = _formatter()
    parser = argparse.ArgumentParser(prog="unwind", description="Stack unwinding and symbolisation for x86-64 Linux.",
                                     formatter_class=formatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in [only] if only else _command_names():
        module = _load(name)
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP, formatter_class=formatter)
        _add_common(cmd)
        module.add_arguments(cmd)
        cmd.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = argv[0] if argv and argv[0] in _command_names() else None
    own_parser = getattr(_load(command), "parse_argv", None) if command is not None else None
    if own_parser is not None:  # a drop-in for another tool parses its arguments by that tool's rules
        args = own_parser(argv[1:])
    else:
        args = build_parser(command).parse_args(argv)
    warnings.showwarning = lambda message, category, *_: print(
        f"{'' if issubclass(category, PeerWarning) else f'unwind {args.command}: '}warning: {message}", file=sys.stderr)
    try:
        return args.run(args) or 0
    except UnwindError as exc:
        print(f"unwind {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"unwind {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug, not bad input: still one line, the traceback on request
        if os.environ.get("UNWIND_DEBUG"):
            raise
        print(f"unwind {args.command}: internal error: {type(exc).__name__}: {exc} "
              "(set UNWIND_DEBUG=1 for the traceback)", file=sys.stderr)
        return 2


def run_and_exit() -> None:
    """The console script: run, flush, and leave without tearing the interpreter down (~5 ms saved)."""
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        pass
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
