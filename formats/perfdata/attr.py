"""struct perf_event_attr, every size from VER0 (64 bytes) to VER8 (136 bytes)."""

from typing import NamedTuple

from formats.errors import FormatError
from formats.files import View

from .codec import LITTLE, bitfield_word, layout
from .constants import PERF_ATTR_FLAG, PERF_SAMPLE, PERF_SAMPLE_BRANCH

ATTR_SIZE_VER0 = 64
ATTR_SIZE_VER7 = 128
ATTR_SIZE_MAX = 136

# (offset, struct code, field name) after the 64-byte VER0 prefix; a field exists when attr.size covers it.
_PREFIX = "IIQQQQQIIQ"
_TAIL = ((64, "Q", "config2"), (72, "Q", "branch_sample_type"), (80, "Q", "sample_regs_user"),
         (88, "I", "sample_stack_user"), (92, "i", "clockid"), (96, "Q", "sample_regs_intr"),
         (104, "I", "aux_watermark"), (108, "H", "sample_max_stack"), (112, "I", "aux_sample_size"),
         (120, "Q", "sig_data"), (128, "Q", "config3"))


class EventAttr(NamedTuple):
    """One perf_event_attr; `flags` is the bitfield word (AttrFlag), `size` the size on file.

    A NamedTuple, like the records (callers derive attrs with `_replace`): a dataclass needs the
    dataclasses module (and inspect) on every run that reads a perf.data file.
    """

    type: int
    config: int = 0
    sample_period: int = 0          # sample_freq when flags has FREQ
    sample_type: int = 0
    read_format: int = 0
    flags: int = 0
    wakeup_events: int = 0
    bp_type: int = 0
    config1: int = 0
    config2: int = 0
    branch_sample_type: int = 0
    sample_regs_user: int = 0
    sample_stack_user: int = 0
    clockid: int = 0
    sample_regs_intr: int = 0
    aux_watermark: int = 0
    sample_max_stack: int = 0
    aux_sample_size: int = 0
    sig_data: int = 0
    config3: int = 0
    size: int = ATTR_SIZE_VER7
    ids: tuple[int, ...] = ()

    @classmethod
    def from_bytes(cls, data: View, offset: int = 0, endian: str = LITTLE,
                   size: int | None = None) -> "EventAttr":
        """Decode an attr; `size` overrides the attr's own size field (as the file header's attr_size does)."""
        (type_, own_size, config, period, sample_type, read_format, flags, wakeup, bp_type,
         config1) = layout(endian, _PREFIX).unpack_from(data, offset)
        size = own_size if size is None else size
        if size == 0:
            size = ATTR_SIZE_VER0
        if size < ATTR_SIZE_VER0 or size > 4096:
            raise FormatError(f"perf_event_attr size {size} out of range", None, offset)
        extra = {}
        for at, code, name in _TAIL:
            if at + layout(endian, code).size <= size:
                (extra[name],) = layout(endian, code).unpack_from(data, offset + at)
        return cls(type_, config, period, sample_type, read_format, bitfield_word(flags, endian),
                   wakeup, bp_type, config1, size=size, **extra)

    def to_bytes(self, endian: str = LITTLE) -> bytes:
        out = bytearray(self.size)
        layout(endian, _PREFIX).pack_into(
            out, 0, self.type, self.size, self.config, self.sample_period, self.sample_type,
            self.read_format, bitfield_word(self.flags, endian), self.wakeup_events, self.bp_type,
            self.config1)
        for at, code, name in _TAIL:
            if at + layout(endian, code).size <= self.size:
                layout(endian, code).pack_into(out, at, getattr(self, name))
        return bytes(out)

    def with_ids(self, ids: tuple[int, ...]) -> "EventAttr":
        return self._replace(ids=tuple(ids))

    @property
    def sample_id_all(self) -> bool:
        return bool(self.flags & PERF_ATTR_FLAG.SAMPLE_ID_ALL)

    @property
    def branch_hw_index(self) -> bool:
        return bool(self.branch_sample_type & PERF_SAMPLE_BRANCH.HW_INDEX)

    @property
    def id_pos(self) -> int | None:
        """Index (in u64 words) of the sample id from the start of a SAMPLE body, as perf computes it."""
        st = self.sample_type
        if st & PERF_SAMPLE.IDENTIFIER:
            return 0
        if not st & PERF_SAMPLE.ID:
            return None
        return sum(1 for bit in (PERF_SAMPLE.IP, PERF_SAMPLE.TID, PERF_SAMPLE.TIME, PERF_SAMPLE.ADDR) if st & bit)

    @property
    def is_pos(self) -> int | None:
        """Index (in u64 words, counted from the end, 1 = last) of the id in a sample_id_all trailer."""
        st = self.sample_type
        if st & PERF_SAMPLE.IDENTIFIER:
            return 1
        if not st & PERF_SAMPLE.ID:
            return None
        return 1 + sum(1 for bit in (PERF_SAMPLE.CPU, PERF_SAMPLE.STREAM_ID) if st & bit)
