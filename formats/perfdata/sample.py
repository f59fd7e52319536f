"""PERF_RECORD_SAMPLE bodies: every PERF_SAMPLE_* field in the order the kernel writes them.

`decode_sample` is the general decoder, field by field; `SampleLayout` (samplelayout.py) is the one
the reader uses, compiled once per attr, and must decode exactly what this one does.
"""

# No `from __future__ import annotations`: NamedTuple compiles every string annotation (~0.1 ms a class).

from typing import TYPE_CHECKING, Literal, NamedTuple, Protocol, TypeAlias, TypedDict

from ..errors import TruncatedError
from .attr import EventAttr
from .codec import LITTLE, Body, branch_flags_to_word, branch_flags_word, layout
from .constants import PERF_FORMAT, PERF_RECORD, PERF_SAMPLE_BRANCH
from .constants import PERF_SAMPLE as S


class ReadValue(NamedTuple):
    """One counter of a READ field: value and, if read_format asks, id and lost count."""

    value: int
    id: int | None = None
    lost: int | None = None


class ReadValues(NamedTuple):
    """A READ field (struct read_format): one counter, or a group of them."""

    values: tuple[ReadValue, ...]
    time_enabled: int | None = None
    time_running: int | None = None


class Branch(NamedTuple):
    """One perf_branch_entry: from, to and the flags word (mispred, predicted, ..., cycles, type)."""

    source: int
    target: int
    flags: int = 0


class RegsDump(NamedTuple):
    """A REGS_USER/REGS_INTR dump: abi (0 = none) and values in register-mask bit order."""

    abi: int
    mask: int
    values: tuple[int, ...] = ()

    def by_number(self) -> dict[int, int]:
        """perf register number -> value."""
        bits = [b for b in range(64) if self.mask >> b & 1]
        return dict(zip(bits, self.values))


class SampleRecord(NamedTuple):
    """One decoded sample; fields absent from the attr's sample_type are None (or empty)."""

    ip: int | None = None
    pid: int | None = None
    tid: int | None = None
    time: int | None = None
    addr: int | None = None
    id: int | None = None
    stream_id: int | None = None
    cpu: int | None = None
    period: int | None = None
    read: ReadValues | None = None
    callchain: tuple[int, ...] | None = None
    raw: bytes | None = None
    branch_hw_index: int | None = None
    branches: tuple[Branch, ...] | None = None
    branch_counters: tuple[int, ...] | None = None
    regs_user: RegsDump | None = None
    stack_user: bytes | memoryview | None = None     # a slice of the body: from a reader, a view into the file
    stack_user_dyn_size: int | None = None
    weight: int | None = None
    data_src: int | None = None
    transaction: int | None = None
    regs_intr: RegsDump | None = None
    phys_addr: int | None = None
    cgroup: int | None = None
    data_page_size: int | None = None
    code_page_size: int | None = None
    aux: bytes | None = None
    misc: int = 0
    attr_index: int = 0             # which attr of the file the sample belongs to (not encoded)

    @property
    def TYPE(self) -> int:
        return PERF_RECORD.SAMPLE


if TYPE_CHECKING:
    class _Fields(TypedDict, total=False):
        """decode_sample's keyword arguments for SampleRecord, gathered field by field."""

        ip: int
        pid: int
        tid: int
        time: int
        addr: int
        id: int
        stream_id: int
        cpu: int
        period: int
        read: ReadValues
        callchain: tuple[int, ...]
        raw: bytes
        branch_hw_index: int
        branches: tuple[Branch, ...]
        branch_counters: tuple[int, ...]
        regs_user: RegsDump
        stack_user: Body
        stack_user_dyn_size: int
        weight: int
        data_src: int
        transaction: int
        regs_intr: RegsDump
        phys_addr: int
        cgroup: int
        data_page_size: int
        code_page_size: int
        aux: bytes
        attr_index: int

    class _Put(Protocol):
        """encode_sample's q: append u64 words (None as 0)."""

        def __call__(self, *values: int | None) -> None: ...


_Words: TypeAlias = "Literal['phys_addr', 'cgroup', 'data_page_size', 'code_page_size']"


class _Cursor:
    """Bounded reader over one record body; running past the end raises TruncatedError."""

    __slots__ = ("data", "pos", "end", "endian")

    def __init__(self, data: Body, endian: str):
        self.data, self.pos, self.end, self.endian = data, 0, len(data), endian

    def take(self, size: int) -> bytes:
        if size < 0 or self.pos + size > self.end:
            raise TruncatedError(f"sample field of {size} bytes at {self.pos:#x} overruns the record")
        self.pos += size
        return bytes(self.data[self.pos - size:self.pos])

    def view(self, size: int) -> Body:
        """`size` bytes as a slice of the body (a view, not a copy, when the body is a memoryview)."""
        if size < 0 or self.pos + size > self.end:
            raise TruncatedError(f"sample field of {size} bytes at {self.pos:#x} overruns the record")
        self.pos += size
        return self.data[self.pos - size:self.pos]

    def unpack(self, code: str) -> tuple[int, ...]:
        st = layout(self.endian, code)
        return st.unpack(self.take(st.size))

    def u64(self) -> int:
        return self.unpack("Q")[0]

    def u64s(self, count: int) -> tuple[int, ...]:
        if count < 0 or count * 8 > self.end - self.pos:
            raise TruncatedError(f"{count} u64 words at {self.pos:#x} overrun the record")
        return self.unpack(f"{count}Q")


def _read_values(cur: _Cursor, fmt: int) -> ReadValues:
    def one() -> ReadValue:
        value = cur.u64()
        ident = cur.u64() if fmt & PERF_FORMAT.ID else None
        lost = cur.u64() if fmt & PERF_FORMAT.LOST else None
        return ReadValue(value, ident, lost)

    if fmt & PERF_FORMAT.GROUP:
        nr = cur.u64()
        enabled = cur.u64() if fmt & PERF_FORMAT.TOTAL_TIME_ENABLED else None
        running = cur.u64() if fmt & PERF_FORMAT.TOTAL_TIME_RUNNING else None
        if nr * 8 > cur.end - cur.pos:
            raise TruncatedError(f"read group of {nr} counters overruns the record")
        return ReadValues(tuple(one() for _ in range(nr)), enabled, running)
    value = cur.u64()
    enabled = cur.u64() if fmt & PERF_FORMAT.TOTAL_TIME_ENABLED else None
    running = cur.u64() if fmt & PERF_FORMAT.TOTAL_TIME_RUNNING else None
    ident = cur.u64() if fmt & PERF_FORMAT.ID else None
    lost = cur.u64() if fmt & PERF_FORMAT.LOST else None
    return ReadValues((ReadValue(value, ident, lost),), enabled, running)


def _regs(cur: _Cursor, mask: int) -> RegsDump:
    abi = cur.u64()
    return RegsDump(abi, mask, cur.u64s(mask.bit_count()) if abi else ())


def decode_sample(body: Body, attr: EventAttr, misc: int = 0, endian: str = LITTLE,
                  attr_index: int = 0) -> SampleRecord:
    """Decode a SAMPLE record body (header excluded) by the attr's sample_type."""
    st, cur = attr.sample_type, _Cursor(body, endian)
    f: _Fields = {"attr_index": attr_index}
    if st & S.IDENTIFIER:
        f["id"] = cur.u64()
    if st & S.IP:
        f["ip"] = cur.u64()
    if st & S.TID:
        f["pid"], f["tid"] = cur.unpack("ii")
    if st & S.TIME:
        f["time"] = cur.u64()
    if st & S.ADDR:
        f["addr"] = cur.u64()
    if st & S.ID:
        f["id"] = cur.u64()
    if st & S.STREAM_ID:
        f["stream_id"] = cur.u64()
    if st & S.CPU:
        f["cpu"] = cur.unpack("I4x")[0]
    if st & S.PERIOD:
        f["period"] = cur.u64()
    if st & S.READ:
        f["read"] = _read_values(cur, attr.read_format)
    if st & S.CALLCHAIN:
        f["callchain"] = cur.u64s(cur.u64())
    if st & S.RAW:
        f["raw"] = cur.take(cur.unpack("I")[0])   # the kernel pads data so size + 4 is a u64 multiple
    if st & S.BRANCH_STACK:
        nr = cur.u64()
        if attr.branch_hw_index:
            f["branch_hw_index"] = cur.u64()
        words = cur.u64s(nr * 3)
        f["branches"] = tuple(Branch(words[i], words[i + 1], branch_flags_word(words[i + 2], endian))
                              for i in range(0, len(words), 3))
        if attr.branch_sample_type & PERF_SAMPLE_BRANCH.COUNTERS:
            f["branch_counters"] = cur.u64s(nr)
    if st & S.REGS_USER:
        f["regs_user"] = _regs(cur, attr.sample_regs_user)
    if st & S.STACK_USER:
        size = cur.u64()
        f["stack_user"] = cur.view(size)
        f["stack_user_dyn_size"] = cur.u64() if size else 0
    if st & (S.WEIGHT | S.WEIGHT_STRUCT):     # the kernel lays WEIGHT_STRUCT out so `full` reads as one u64
        f["weight"] = cur.u64()
    if st & S.DATA_SRC:
        f["data_src"] = cur.u64()
    if st & S.TRANSACTION:
        f["transaction"] = cur.u64()
    if st & S.REGS_INTR:
        f["regs_intr"] = _regs(cur, attr.sample_regs_intr)
    last: tuple[tuple[int, _Words], ...] = ((S.PHYS_ADDR, "phys_addr"), (S.CGROUP, "cgroup"),
                                           (S.DATA_PAGE_SIZE, "data_page_size"), (S.CODE_PAGE_SIZE, "code_page_size"))
    for bit, name in last:
        if st & bit:
            f[name] = cur.u64()
    if st & S.AUX:
        f["aux"] = cur.take(cur.u64())
    return SampleRecord(misc=misc, **f)


def encode_sample(s: SampleRecord, attr: EventAttr, endian: str = LITTLE) -> bytes:
    """The SAMPLE body for `s` under the attr's sample_type (missing values written as 0)."""
    st, out = attr.sample_type, bytearray()

    def q(*values: int | None) -> None:
        out.extend(layout(endian, f"{len(values)}Q").pack(*(v or 0 for v in values)))

    if st & S.IDENTIFIER:
        q(s.id)
    if st & S.IP:
        q(s.ip)
    if st & S.TID:
        out += layout(endian, "ii").pack(s.pid or 0, s.tid or 0)
    if st & S.TIME:
        q(s.time)
    if st & S.ADDR:
        q(s.addr)
    if st & S.ID:
        q(s.id)
    if st & S.STREAM_ID:
        q(s.stream_id)
    if st & S.CPU:
        out += layout(endian, "I4x").pack(s.cpu or 0)
    if st & S.PERIOD:
        q(s.period)
    if st & S.READ:
        _encode_read(q, s.read or ReadValues((ReadValue(0),)), attr.read_format)
    if st & S.CALLCHAIN:
        chain = s.callchain or ()
        q(len(chain), *chain)
    if st & S.RAW:
        raw = s.raw or b""
        raw += bytes(-(len(raw) + 4) % 8)
        out += layout(endian, "I").pack(len(raw)) + raw
    if st & S.BRANCH_STACK:
        branches = s.branches or ()
        q(len(branches))
        if attr.branch_hw_index:
            q(s.branch_hw_index if s.branch_hw_index is not None else 2**64 - 1)
        for b in branches:
            q(b.source, b.target, branch_flags_to_word(b.flags, endian))
        if attr.branch_sample_type & PERF_SAMPLE_BRANCH.COUNTERS:
            q(*(s.branch_counters or (0,) * len(branches)))
    if st & S.REGS_USER:
        _encode_regs(q, s.regs_user, attr.sample_regs_user)
    if st & S.STACK_USER:
        stack = s.stack_user or b""
        q(len(stack))
        out += stack
        if stack:
            q(len(stack) if s.stack_user_dyn_size is None else s.stack_user_dyn_size)
    if st & (S.WEIGHT | S.WEIGHT_STRUCT):
        q(s.weight)
    if st & S.DATA_SRC:
        q(s.data_src)
    if st & S.TRANSACTION:
        q(s.transaction)
    if st & S.REGS_INTR:
        _encode_regs(q, s.regs_intr, attr.sample_regs_intr)
    for bit, value in ((S.PHYS_ADDR, s.phys_addr), (S.CGROUP, s.cgroup),
                       (S.DATA_PAGE_SIZE, s.data_page_size), (S.CODE_PAGE_SIZE, s.code_page_size)):
        if st & bit:
            q(value)
    if st & S.AUX:
        aux = s.aux or b""
        q(len(aux))
        out += aux
    return bytes(out)


def _encode_read(q: "_Put", read: ReadValues, fmt: int) -> None:
    def fields(v: ReadValue) -> list[int | None]:
        return [v.value] + ([v.id] if fmt & PERF_FORMAT.ID else []) + ([v.lost] if fmt & PERF_FORMAT.LOST else [])

    times = ([read.time_enabled] if fmt & PERF_FORMAT.TOTAL_TIME_ENABLED else []) + \
            ([read.time_running] if fmt & PERF_FORMAT.TOTAL_TIME_RUNNING else [])
    if fmt & PERF_FORMAT.GROUP:
        q(len(read.values), *times)
        for v in read.values:
            q(*fields(v))
        return
    v = read.values[0]
    q(v.value, *times, *fields(v)[1:])


def _encode_regs(q: "_Put", regs: RegsDump | None, mask: int) -> None:
    if regs is None or not regs.abi:
        q(0)
        return
    if len(regs.values) != mask.bit_count():
        raise ValueError(f"{len(regs.values)} register values for mask {mask:#x}")
    q(regs.abi, *regs.values)
