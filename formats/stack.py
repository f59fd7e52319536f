"""The one symbolised frame and the one stack: what the symbolizer makes and every writer takes.

`unwind.Frame` and `unwind.Stack` are these. They live in `formats` because the writers do, and
`formats` never imports `unwind`. Both are NamedTuples: the symbolizer makes a frame per function
per address on its hot path, where a tuple built by `Frame._make(row)` costs a third of a slots
dataclass (see NOTES.md, "One frame, one stack").
"""

# Annotations are evaluated at import (no `from __future__ import annotations`): typing compiles the
# string annotation of every NamedTuple field, ~0.5 M instructions each (NOTES.md, issue 16).

from enum import Enum
from typing import TYPE_CHECKING, Iterable, Iterator, NamedTuple, NotRequired, TypedDict

from .errors import FormatError

if TYPE_CHECKING:
    class FrameJson(TypedDict):
        """A frame in JSON (DESIGN.md): addresses as hex strings."""

        addr: str
        module: str | None
        offset: str | None
        symbol: str | None
        file: str | None
        line: int | None
        inlined: bool
        via: str | None
        build_id: NotRequired[str | None]

    class StackJson(TypedDict):
        """`unwind perf --format json`'s sample object."""

        comm: str | None
        pid: int | None
        tid: int | None
        time: int
        period: int
        frames: list[FrameJson]
        stop: str

    class RawStackJson(TypedDict):
        """A raw stack (no unwinding, so no stop reason) and how many times it was seen."""

        comm: str | None
        pid: int | None
        tid: int | None
        count: int
        frames: list[FrameJson]


MAX_EXPANDED_SAMPLES = 4_000_000  # samples a writer that repeats each stack `count` times may produce


class StopReason(str, Enum):
    """Why a walk ended."""

    END = "end"
    NO_UNWIND_INFO = "no-unwind-info"
    BAD_MEMORY = "bad-memory"
    LOOP = "loop"
    DEPTH_LIMIT = "depth-limit"
    BAD_RULE = "bad-rule"
    LBR_EXHAUSTED = "lbr-exhausted"
    AMBIGUOUS_STITCH = "ambiguous-stitch"  # truncated, and other samples disagree on what lies beyond

    @property
    def truncated(self) -> bool:
        """Whether the walk ended because the stack copy did (or stitching could not choose a way on)."""
        return self in (StopReason.BAD_MEMORY, StopReason.AMBIGUOUS_STITCH)

    def __str__(self) -> str:
        return self.value


class Frame(NamedTuple):
    """One function at one address (an inline chain is several frames of one address, innermost first).

    `addr` is the absolute address (the pc, or the return address as found); `offset` the ELF
    virtual address inside `module` (what addr2line takes). `via` says how the physical frame was
    found (`cfi`, `fp`, `kernel`, ...; None from a plain symbolize call). `inlined` marks every
    frame of an inline chain but the outermost.

    What profilers print: `lookup` is the address perf shows for the frame (return address - 1 for
    frames an unwinder found, None when it is `addr`), `map_offset` the file offset of that address
    in its mapping (what `perf script` prints for user frames). `start_line`, `start_file`,
    `start_address` and `discriminator` are what llvm-symbolizer prints besides the location.
    """

    addr: int
    module: str | None = None
    offset: int | None = None
    build_id: str | None = None
    symbol: str | None = None
    file: str | None = None
    line: int | None = None
    column: int | None = None
    inlined: bool = False
    via: str | None = None
    kernel: bool = False
    lookup: int | None = None
    map_offset: int | None = None
    start_line: int | None = None
    start_file: str | None = None
    start_address: int | None = None
    discriminator: int = 0

    @property
    def shown_addr(self) -> int:
        """The address profilers show: the lookup address of unwound return addresses, else `addr`."""
        return self.addr if self.lookup is None else self.lookup

    def to_json(self, build_id: bool = False) -> "FrameJson":
        """The JSON frame of DESIGN.md (`build_id` adds the key, as core and pid output carry it)."""
        out: FrameJson = {
            "addr": f"{self.addr:#x}", "module": self.module,
            "offset": f"{self.offset:#x}" if self.offset is not None else None, "symbol": self.symbol,
            "file": self.file, "line": self.line, "inlined": self.inlined, "via": self.via,
        }
        if build_id:
            out["build_id"] = self.build_id
        return out


class Stack(NamedTuple):
    """One symbolised stack: who, when, its weight, its frames leaf first (kernel part, then user part).

    `count` is how many times a raw stack was seen (a BPF map's value): writers weigh it, nobody
    repeats it. `comm`, `pid` and `tid` are None where the input did not say (raw stacks); `stop`
    is None where nothing was unwound (recorded address arrays). `truncated`: the user stack ends
    where the stack copy did (profiles may then end it in a synthetic `[truncated]` root frame).
    """

    comm: str | None
    pid: int | None
    tid: int | None
    time: int = 0
    period: int = 1
    frames: tuple[Frame, ...] = ()
    stop: StopReason | None = None
    # mypy: a field may not shadow tuple.count, but NamedTuple allows it (the instance attribute wins) and
    # DESIGN.md names the field `count`.
    count: int = 1  # type: ignore[assignment]
    truncated: bool = False

    def to_json(self) -> "StackJson":
        """`unwind perf --format json`'s sample object."""
        return {"comm": self.comm, "pid": self.pid, "tid": self.tid, "time": self.time, "period": self.period,
                "frames": [f.to_json() for f in self.frames], "stop": str(self.stop)}


def physical_groups(frames: Iterable[Frame]) -> Iterator[tuple[Frame, ...]]:
    """Group a leaf-first frame list into one tuple per physical address (inline chain, innermost first)."""
    group: list[Frame] = []
    for frame in frames:
        if group and not (group[-1].inlined and group[-1].addr == frame.addr):
            yield tuple(group)
            group = []
        group.append(frame)
    if group:
        yield tuple(group)


def expand(stacks: Iterable[Stack], limit: int = MAX_EXPANDED_SAMPLES) -> Iterator[Stack]:
    """Each stack `count` times, lazily (for writers that weigh every sample alike). More than `limit`
    samples in all is a FormatError: a hostile count (`a;b 2147483648`) must not cost hours or memory."""
    total = 0
    for stack in stacks:
        count = max(stack.count, 1)
        total += count
        if total > limit:
            raise FormatError(f"stack counts add up to more than the {limit} samples this output expands")
        for _ in range(count):
            yield stack


def write_threads_json(threads: Iterable[Stack]) -> str:
    """`unwind core --format json`: `{"threads": [{"tid", "frames", "stop"}]}`, frames with their build-id."""
    import json

    return json.dumps({"threads": [{"tid": t.tid, "frames": [f.to_json(build_id=True) for f in t.frames],
                                    "stop": str(t.stop)} for t in threads]}) + "\n"
