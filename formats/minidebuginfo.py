"""MiniDebugInfo: the xz-compressed ELF in `.gnu_debugdata` that Fedora and CentOS ship inside stripped binaries.

It holds a `.symtab` of the function symbols `.dynsym` lacks (gdb manual, "MiniDebugInfo"); gdb reads it
as a second symbol source for the binary.
"""

from __future__ import annotations

from .decompress import Codec, budget, inflate
from .elf import ElfFile


def mini_debuginfo(elf: ElfFile) -> ElfFile | None:
    """The ELF file embedded in `elf`'s `.gnu_debugdata`, decompressed; None when there is none.

    Corrupt or oversized data raises a FormatError (DecompressError, TooLargeError, NotELFError).
    """
    section = elf.section(".gnu_debugdata")
    if section is None or not section.size:
        return None
    raw = elf.raw_section_bytes(section)
    data = inflate(Codec.XZ, raw, None, limit=budget(len(elf.data)), path=elf.path, offset=section.offset,
                   what=".gnu_debugdata")
    return ElfFile(f"{elf.path}[.gnu_debugdata]", data=data)
