"""`unwind dump-orc FILE`: every ORC entry, one line each, exactly as `objtool --dump=orc` prints it."""

from __future__ import annotations

from argparse import ArgumentParser, Namespace

HELP = "print the ORC unwind table of a kernel image, module or objtool-processed object like objtool --dump=orc"


def add_arguments(parser: ArgumentParser) -> None:
    parser.add_argument("file", help="ELF file with .orc_unwind/.orc_unwind_ip (vmlinux, .ko, .ko.xz/.zst/.gz, .o, "
                                     "executable)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--orc-version", metavar="VERSION",
                        help="kernel version whose entry layout to assume (e.g. 6.1, 6.3, 6.12); default: "
                             "from .orc_header, else guessed from the entries")


def run(args: Namespace) -> int:
    import json
    import os
    import sys

    from formats.errors import FormatError
    from formats.orc import describe_table, layout_for_version, open_elf, read_orc, table_to_json

    from ..errors import UsageError

    layout = None
    if args.orc_version:
        try:
            layout = layout_for_version(args.orc_version)
        except FormatError as exc:
            raise UsageError(exc.message) from None
    path = args.file
    if args.symfs and os.path.isfile(os.path.join(args.symfs, path.lstrip("/"))):
        path = os.path.join(args.symfs, path.lstrip("/"))
    table = read_orc(open_elf(path), layout)
    out = sys.stdout
    if args.format == "json":
        if table is None:
            json.dump({"file": args.file, "layout": None, "entries": []}, out)
        else:
            json.dump(table_to_json(table), out)
        out.write("\n")
        return 0
    if table is not None:
        out.writelines(f"{line}\n" for line in describe_table(table))
    return 0
