"""One ORC entry (`struct orc_entry`, 6 bytes) in each of the kernel's three bit layouts.

Bytes 0-1 sp_offset (s16), 2-3 bp_offset (s16), then a little-endian 16-bit word of bitfields:
  <= 6.2:  sp_reg:4 bp_reg:4 type:2 end:1            (arch/x86/include/asm/orc_types.h, v4.19..v6.2)
     6.3:  sp_reg:4 bp_reg:4 type:2 signal:1 end:1   (v6.3, "x86/unwind/orc: Add 'signal' field")
  >= 6.4:  sp_reg:4 bp_reg:4 type:3 signal:1         (v6.4+, ORC_TYPE_UNDEFINED/END_OF_STACK, no end bit)
The unused high bits are kept in `spare` so that to_bytes(from_bytes(b)) == b for any 6 bytes.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from enum import IntEnum

from ..errors import FormatError

ENTRY = struct.Struct("<hhH")
ENTRY_SIZE = ENTRY.size


class OrcLayout(IntEnum):
    """Which kernel's bitfield layout a table uses."""

    V6_1 = 1  # every kernel up to 6.2 (type:2 end:1)
    V6_3 = 2  # 6.3 only (type:2 signal:1 end:1)
    V6_4 = 3  # 6.4 and later (type:3 signal:1), announced by .orc_header

    @property
    def label(self) -> str:
        return {1: "<=6.2", 2: "6.3", 3: ">=6.4"}[self.value]


class OrcReg(IntEnum):
    """ORC_REG_*: the base register of the previous SP (sp_reg) or of the saved BP (bp_reg)."""

    UNDEFINED = 0
    PREV_SP = 1
    DX = 2
    DI = 3
    BP = 4
    SP = 5
    R10 = 6
    R13 = 7
    BP_INDIRECT = 8
    SP_INDIRECT = 9


class OrcType(IntEnum):
    """ORC_TYPE_* with the >= 6.4 numbering; older layouts are mapped onto it by `OrcEntry.kind`."""

    UNDEFINED = 0
    END_OF_STACK = 1
    CALL = 2
    REGS = 3
    REGS_PARTIAL = 4


# Raw type field of the <= 6.3 layouts: 0 call, 1 regs, 2 regs_partial (3 is unused).
_OLD_TYPES = {0: OrcType.CALL, 1: OrcType.REGS, 2: OrcType.REGS_PARTIAL}
_OLD_RAW = {v: k for k, v in _OLD_TYPES.items()}

# (type width, type shift, signal bit or None, end bit or None, first spare bit) per layout.
_BITS = {
    OrcLayout.V6_1: (2, 8, None, 10, 11),
    OrcLayout.V6_3: (2, 8, 10, 11, 12),
    OrcLayout.V6_4: (3, 8, 11, None, 12),
}


@dataclass(frozen=True, slots=True)
class OrcEntry:
    """One decoded entry; `type` is the raw field of `layout`, `kind` its meaning."""

    sp_offset: int
    bp_offset: int
    sp_reg: int
    bp_reg: int
    type: int
    signal: bool = False
    end: bool = False
    layout: OrcLayout = OrcLayout.V6_4
    spare: int = 0

    @classmethod
    def from_bytes(cls, data: bytes | memoryview, offset: int = 0, layout: OrcLayout = OrcLayout.V6_4) -> OrcEntry:
        sp_offset, bp_offset, bits = ENTRY.unpack_from(data, offset)
        return cls.from_fields(sp_offset, bp_offset, bits, layout)

    @classmethod
    def from_fields(cls, sp_offset: int, bp_offset: int, bits: int, layout: OrcLayout) -> "OrcEntry":
        width, shift, signal_bit, end_bit, spare_bit = _BITS[layout]
        return cls(sp_offset, bp_offset, bits & 0xF, (bits >> 4) & 0xF, (bits >> shift) & ((1 << width) - 1),
                   bool(signal_bit is not None and bits >> signal_bit & 1),
                   bool(end_bit is not None and bits >> end_bit & 1), layout, bits >> spare_bit)

    def to_bytes(self) -> bytes:
        width, shift, signal_bit, end_bit, spare_bit = _BITS[self.layout]
        bits = (self.sp_reg & 0xF) | (self.bp_reg & 0xF) << 4 | (self.type & ((1 << width) - 1)) << shift
        if signal_bit is not None:
            bits |= int(self.signal) << signal_bit
        if end_bit is not None:
            bits |= int(self.end) << end_bit
        bits |= self.spare << spare_bit
        return ENTRY.pack(self.sp_offset, self.bp_offset, bits & 0xFFFF)

    @property
    def kind(self) -> OrcType | None:
        """The entry type in >= 6.4 terms; None for a raw value no kernel defines."""
        if self.layout == OrcLayout.V6_4:
            return OrcType(self.type) if self.type <= OrcType.REGS_PARTIAL else None
        return _OLD_TYPES.get(self.type)


def make_entry(kind: OrcType, sp_reg: int, sp_offset: int, bp_reg: int = OrcReg.UNDEFINED, bp_offset: int = 0,
               *, signal: bool = False, end: bool = False, layout: OrcLayout = OrcLayout.V6_4) -> OrcEntry:
    """An entry of `layout` meaning `kind` (UNDEFINED/END_OF_STACK exist only as >= 6.4 types)."""
    raw = int(kind) if layout == OrcLayout.V6_4 else _OLD_RAW[kind]
    return OrcEntry(sp_offset, bp_offset, sp_reg, bp_reg, raw, signal, end, layout)


_VERSION = re.compile(r"^\s*(?:v|<=|>=)?\s*(\d+)\.(\d+)")


def layout_for_version(text: str) -> OrcLayout:
    """The layout of kernel version `text` ("6.1", "6.3", "6.12.117", "<=6.2", ">=6.4"); FormatError if unreadable."""
    match = _VERSION.match(text)
    if not match:
        raise FormatError(f"not a kernel version: {text!r}")
    version = (int(match[1]), int(match[2]))
    if version <= (6, 2):
        return OrcLayout.V6_1
    return OrcLayout.V6_3 if version == (6, 3) else OrcLayout.V6_4
