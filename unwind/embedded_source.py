"""Source text embedded in DWARF 5 line tables (clang -gembed-source: DW_LNCT_LLVM_source), by file path.

llvm-symbolizer 14 prints --print-source-context-lines from a file's embedded text when the line table
holds one (DWARFDebugLine::LineTable::getSourceByIndex), before it tries the file on disk.
"""

from __future__ import annotations

from cachetools import LRUCache

from formats.dwarf.info import compile_units
from formats.dwarf.line import parse_line_header
from formats.dwarf.units import DwarfSections
from formats.elf import ElfFile
from formats.errors import UnwindError
from formats.relocations import debug_section_bytes


def embedded_sources(path: str) -> dict[str, str]:
    """{file path as the symbolizer prints it: embedded text} of every line table of the ELF file `path`."""
    elf = ElfFile(path)
    sections = DwarfSections.from_elf(elf)  # relocated in .o files, as the index reads them
    debug_line = debug_section_bytes(elf, ".debug_line") or b""
    found: dict[str, str] = {}
    for unit in compile_units(sections, problems=[]):
        if unit.stmt_list is None or unit.version < 5:
            continue  # only DWARF 5 file tables have content descriptors
        header = parse_line_header(debug_line, unit.stmt_list, debug_str=sections.str,
                                   debug_line_str=sections.line_str, path=path)
        for index, entry in enumerate(header.file_names):
            name = header.file_path(index, unit.comp_dir) if entry.source is not None else None
            if name is not None and entry.source is not None:
                found.setdefault(name, entry.source)
    return found


class EmbeddedSources:
    """Per-module embedded sources, read on first use; the caller owns the (bounded) cache."""

    def __init__(self, modules: int = 16):
        self._cache: LRUCache[str, dict[str, str]] = LRUCache(maxsize=modules)

    def lookup(self, module: str, file: str) -> str | None:
        """The embedded text of `file` in `module`, None when it holds none (or cannot be read)."""
        table = self._cache.get(module)
        if table is None:
            try:
                table = embedded_sources(module)
            except (UnwindError, OSError):
                table = {}
            self._cache[module] = table
        return table.get(file)
