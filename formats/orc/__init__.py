"""Linux ORC unwind tables (.orc_unwind / .orc_unwind_ip / .orc_header) in every kernel layout."""

from .describe import describe_entry, describe_reg, describe_row, describe_table, table_to_json
from .entry import ENTRY_SIZE, OrcEntry, OrcLayout, OrcReg, OrcType, layout_for_version, make_entry
from .table import (KNOWN_HEADERS, OrcIndex, OrcRelocation, OrcRow, OrcTable, guess_layout, header_hash,
                    is_terminator, open_elf, read_orc)

__all__ = [
    "ENTRY_SIZE", "KNOWN_HEADERS", "OrcEntry", "OrcIndex", "OrcLayout", "OrcReg", "OrcRelocation", "OrcRow",
    "OrcTable", "OrcType", "describe_entry", "describe_reg", "describe_row", "describe_table", "guess_layout",
    "header_hash", "is_terminator", "layout_for_version", "make_entry", "open_elf", "read_orc", "table_to_json",
]
