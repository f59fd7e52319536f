"""The `orc` unwinder: Linux ORC entries (vmlinux, modules, objtool-processed user programs) as UnwindRules.

Each entry becomes one rule, executed by `walk()` as the kernel's unwind_next_frame() does:
  previous sp = sp_reg + sp_offset           (sp, bp, dx, di, r10, r13)
              = *(bp + sp_offset)            (BP_INDIRECT, printed `(bp-40)`)
              = *sp + sp_offset              (SP_INDIRECT, printed `(sp)+8`)
  CALL:         ip = *(prev sp - 8)
  REGS:         prev sp is a struct pt_regs; REGS_PARTIAL: it is the iret frame (ip, cs, flags, sp, ss)
  bp:           unchanged (und) | *(prev sp + bp_offset) (prevsp) | *(bp + bp_offset) (bp)
END_OF_STACK (or the <= 6.3 end bit) ends the walk; UNDEFINED entries mean no unwind information.
"""

from __future__ import annotations

from enum import Enum
from typing import Final

from cachetools import LRUCache

from formats.elf import SHF_EXECINSTR, ElfFile, ElfType
from formats.errors import UnwindError
from formats.leb128 import encode_sleb
from formats.orc import OrcEntry, OrcIndex, OrcLayout, OrcReg, OrcType, layout_for_version, read_orc

from ..memory import AddressSpace, SampleMemory
from ..model import Frame, Sample, Trace, Via
from ..modules import Module, ModuleResolver
from ..rules import RIP, RSP, UNDEF, CfaKind, CfaRule, FrameKind, RegKind, RegRule, UnwindRule
from ..walk import walk

RBP = 6
# ORC base registers that hold the previous sp directly -> DWARF register numbers.
_DIRECT: Final[dict[int, int]] = {OrcReg.SP: RSP, OrcReg.BP: RBP, OrcReg.DX: 1, OrcReg.DI: 5, OrcReg.R10: 10,
                                  OrcReg.R13: 13}
END_RULE = UnwindRule(CfaRule(CfaKind.REG_OFFSET, RSP, 0), ((RIP, UNDEF),))


class _Miss(Enum):
    MISS = 0


_UNCACHED: Final = _Miss.MISS  # a cache miss (None is a cached answer)
_DW_OP_DEREF, _DW_OP_CONSTS, _DW_OP_PLUS, _DW_OP_BREG = 0x06, 0x11, 0x22, 0x70


class OrcRuleError(UnwindError):
    """An ORC entry that no kernel would write (unknown type or base register)."""


def entry_rule(entry: OrcEntry) -> UnwindRule | None:
    """The rule an entry stands for; None where the table says there is no unwind information."""
    kind = entry.kind
    if kind == OrcType.END_OF_STACK or entry.end:
        return END_RULE
    if kind == OrcType.UNDEFINED or entry.sp_reg == OrcReg.UNDEFINED:
        return None
    if kind is None:
        raise OrcRuleError(f"unknown ORC type {entry.type}")
    cfa = _cfa_rule(entry.sp_reg, entry.sp_offset)
    regs: list[tuple[int, RegRule]] = []
    frame_kind = FrameKind.NORMAL
    if kind == OrcType.CALL:
        regs.append((RIP, RegRule(RegKind.OFFSET, -8)))
    else:
        frame_kind = FrameKind.PT_REGS if kind == OrcType.REGS else FrameKind.PT_REGS_PARTIAL
    if entry.bp_reg == OrcReg.PREV_SP:
        regs.append((RBP, RegRule(RegKind.OFFSET, entry.bp_offset)))
    elif entry.bp_reg == OrcReg.BP:
        expr = bytes([_DW_OP_BREG + RBP]) + encode_sleb(entry.bp_offset)
        regs.append((RBP, RegRule(RegKind.EXPRESSION, expr=expr)))
    elif entry.bp_reg != OrcReg.UNDEFINED:
        raise OrcRuleError(f"ORC bp base register {entry.bp_reg} is not und, prevsp or bp")
    return UnwindRule(cfa, tuple(regs), RIP, frame_kind)


def _cfa_rule(reg: int, offset: int) -> CfaRule:
    if reg in _DIRECT:
        return CfaRule(CfaKind.REG_OFFSET, _DIRECT[reg], offset)
    if reg == OrcReg.BP_INDIRECT:
        return CfaRule(CfaKind.DEREF, RBP, offset)
    if reg == OrcReg.SP_INDIRECT:  # *sp + offset
        expr = bytes([_DW_OP_BREG + RSP, 0, _DW_OP_DEREF, _DW_OP_CONSTS]) + encode_sleb(offset) + bytes([_DW_OP_PLUS])
        return CfaRule(CfaKind.EXPRESSION, expr=expr)
    raise OrcRuleError(f"ORC sp base register {reg} cannot give the previous sp")


class ModuleOrc:
    """One file's sorted ORC table and how module addresses map into it."""

    __slots__ = ("index", "text_sections")

    def __init__(self, elf: ElfFile, index: OrcIndex) -> None:
        self.index = index
        # Relocatable files (.ko, .o) have no segments: a module address is a file offset, which
        # falls into one executable section; ORC rows of such files are section-relative.
        # (start offset, end offset, section index) of each executable section.
        self.text_sections: list[tuple[int, int, int]] | None = None
        if elf.type == ElfType.REL:
            self.text_sections = sorted((s.offset, s.offset + s.size, s.index) for s in elf.sections
                                        if s.flags & SHF_EXECINSTR and s.size)

    def find(self, vaddr: int) -> OrcEntry | None:
        if self.text_sections is None:
            found = self.index.find(vaddr)
            return found[1] if found else None
        for start, end, index in self.text_sections:
            if start <= vaddr < end:
                found = self.index.find(vaddr - start, index)
                return found[1] if found else None
        return None


class OrcUnwinder:
    """`orc`: every frame from the ORC table of the module that holds its lookup address."""

    name = "orc"
    reads_memory = True  # unwind(sample, memory=...) walks through a core dump or a live process too

    def __init__(self, resolver: ModuleResolver | None = None, max_depth: int = 256,
                 orc_version: str | None = None, cache_size: int = 64) -> None:
        self.resolver = resolver or ModuleResolver()
        self.max_depth = max_depth
        self.layout: OrcLayout | None = layout_for_version(orc_version) if orc_version else None
        self._tables: LRUCache[str, ModuleOrc | None] = LRUCache(cache_size)  # module path -> its table
        self._rules: LRUCache[OrcEntry, UnwindRule | None] = LRUCache(4096)

    def unwind(self, sample: Sample, memory: SampleMemory | None = None) -> Trace:
        reader = memory if memory is not None else AddressSpace(sample, self.resolver)
        return walk(sample, lambda address, frame: self.rule_at(reader, address, frame), via=Via.ORC,
                    max_depth=self.max_depth, memory=reader)

    def rule_at(self, memory: SampleMemory, address: int, frame: Frame | None = None) -> UnwindRule | None:
        """The rule at absolute lookup `address` from the ORC table of the module mapped there."""
        module = memory.module_at(address)
        if module is None:
            return None
        table = self.table_for(module)
        if table is None:
            return None
        entry = table.find(module.to_vaddr(address))
        return None if entry is None else self.rule(entry)

    def rule(self, entry: OrcEntry) -> UnwindRule | None:
        rule = self._rules.get(entry, _UNCACHED)
        if rule is _UNCACHED:
            rule = self._rules[entry] = entry_rule(entry)
        return rule

    def table_for(self, module: Module) -> ModuleOrc | None:
        """The module's ORC table, parsed once; None (cached too) when it has none or it is corrupt."""
        key = module.path
        if key not in self._tables:
            try:
                table = read_orc(module.elf, self.layout)
            except UnwindError:
                table = None
            self._tables[key] = ModuleOrc(module.elf, table.index()) if table else None
        return self._tables[key]
