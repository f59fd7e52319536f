"""DWARF decoding: line programs, DIE scanning, ranges, forms."""
