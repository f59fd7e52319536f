"""`unwind dump-cfi FILE`: the CFA/register rule table of every CIE and FDE, as readelf --debug-dump=frames-interp."""

from __future__ import annotations

from argparse import ArgumentParser, Namespace
from typing import TYPE_CHECKING, Iterable, Iterator

if TYPE_CHECKING:
    from formats.cfi.parse import CfiSection
    from formats.elf import ElfFile, Section

HELP = "print the DWARF CFI rule table of every CIE and FDE like readelf --debug-dump=frames-interp"
FRAME_SECTIONS = (".eh_frame", ".debug_frame")


def add_arguments(parser: ArgumentParser) -> None:
    parser.add_argument("file", help="ELF file with .eh_frame and/or .debug_frame")
    parser.add_argument("--format", choices=("text", "json"), default="text")


def frame_sections(elf: ElfFile) -> Iterator[tuple[Section, CfiSection | None]]:
    """(section record, CfiSection or None for NOBITS) of the file's frame sections, in section-header order."""
    from formats.cfi.parse import CfiSection

    for section in elf.sections:
        if section.name in FRAME_SECTIONS:
            yield section, CfiSection.from_elf(elf, section.name)


def separate_debug_file(elf: ElfFile, debug_dirs: Iterable[str]) -> str | None:
    """The separate debug file readelf would follow (build-id, then .gnu_debuglink), not the file itself."""
    import os

    from ..debuginfo import DEFAULT_DEBUG_DIRS, find_debug_file

    found = find_debug_file(elf, tuple(debug_dirs) or DEFAULT_DEBUG_DIRS)
    if found and elf.path and os.path.realpath(found) == os.path.realpath(elf.path):
        return None
    return found


def run(args: Namespace) -> int:
    import json
    import sys

    from formats.cfi.describe import describe_section, section_to_json
    from formats.elf import ElfFile

    elf = ElfFile(args.file)
    debug_path = separate_debug_file(elf, args.debug_dir)
    files: list[tuple[ElfFile, str | None]] = [(elf, args.file if debug_path else None)]
    if debug_path:
        files.append((ElfFile(debug_path), debug_path))
    out = sys.stdout
    if args.format == "json":
        sections = []
        for source, loaded_from in files:
            for _record, section in frame_sections(source):
                if section is not None:
                    sections.append(section_to_json(section, loaded_from or args.file))
        json.dump({"file": args.file, "sections": sections}, out, indent=1)
        out.write("\n")
        return 0
    for source, loaded_from in files:
        for record, section in frame_sections(source):
            if section is None:
                out.write(f"section '{record.name}' has the NOBITS type - its contents are unreliable.\n")
                continue
            for chunk in describe_section(section, loaded_from):
                out.write(chunk)
    return 0
