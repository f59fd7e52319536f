"""Call instructions of an ELF file's executable sections, found with capstone."""

from __future__ import annotations

from dataclasses import dataclass

import capstone

from formats.elf import SHF_EXECINSTR, ElfFile


@dataclass(frozen=True, slots=True)
class CallSite:
    address: int  # ELF virtual address of the call instruction
    return_address: int
    target_text: str  # operand as capstone prints it


def call_sites(path: str, sections: tuple[str, ...] = (".text",)) -> list[CallSite]:
    """Every `call` in the named executable sections, in address order."""
    elf = ElfFile(path)
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    sites = []
    for section in elf.sections:
        if section.name not in sections or not section.flags & SHF_EXECINSTR:
            continue
        code = elf.section_bytes(section) or b""
        for address, size, mnemonic, operands in md.disasm_lite(code, section.addr):
            if mnemonic == "call":
                sites.append(CallSite(address, address + size, operands))
    return sites
