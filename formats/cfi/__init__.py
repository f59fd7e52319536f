"""DWARF call frame information: .eh_frame, .eh_frame_hdr, .debug_frame records, instructions, row tables."""
