"""The core model every part shares: registers, module maps, samples, frames and traces."""

# Annotations are evaluated at import (no `from __future__ import annotations`): typing compiles the
# string annotation of every NamedTuple field, ~0.5 M instructions each (NOTES.md, issue 16).

import bisect
from types import MappingProxyType
from enum import Enum, IntEnum
from typing import TYPE_CHECKING, Iterable, Iterator, Mapping as TMapping, NamedTuple, Protocol, runtime_checkable

from formats.stack import StopReason

if TYPE_CHECKING:
    from .memory import SampleMemory

__all__ = ["Reg", "Registers", "Mapping", "ModuleMap", "BranchEntry", "Sample", "Via", "StopReason", "Frame",
           "Trace", "Unwinder", "MemoryUnwinder", "unwind_over", "truncated_by_copy"]


class Reg(IntEnum):
    """x86-64 registers by their DWARF numbers (System V psABI, figure 3.36)."""

    RAX = 0
    RDX = 1
    RCX = 2
    RBX = 3
    RSI = 4
    RDI = 5
    RBP = 6
    RSP = 7
    R8 = 8
    R9 = 9
    R10 = 10
    R11 = 11
    R12 = 12
    R13 = 13
    R14 = 14
    R15 = 15
    RIP = 16


# The records below are NamedTuples or plain classes, not dataclasses: one is made per sample and per frame,
# and a frozen dataclass costs ~4 M instructions to generate at import and a __setattr__ per field to build.


class Registers:
    """DWARF-numbered register values; an unknown register is absent, never zero. Immutable."""

    __slots__ = ("values",)
    values: TMapping[int, int]

    def __init__(self, values: TMapping[int, int] = MappingProxyType({})) -> None:
        object.__setattr__(self, "values", values)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r} of an immutable Registers")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Registers) and self.values == other.values

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.values.items())))

    def __repr__(self) -> str:
        return f"Registers(values={dict(self.values)!r})"

    def __reduce__(self) -> "tuple[type[Registers], tuple[TMapping[int, int]]]":
        return Registers, (dict(self.values),)

    def get(self, reg: int) -> int | None:
        return self.values.get(reg)

    def __getitem__(self, reg: int) -> int:
        return self.values[reg]

    def __contains__(self, reg: object) -> bool:
        return reg in self.values

    @property
    def pc(self) -> int | None:
        return self.values.get(Reg.RIP)

    @property
    def sp(self) -> int | None:
        return self.values.get(Reg.RSP)

    def replace(self, **changes: int | None) -> "Registers":
        """A copy with registers set (by lower-case name or 'rN'); None removes one."""
        values = dict(self.values)
        for name, value in changes.items():
            reg = Reg[name.upper()]
            if value is None:
                values.pop(reg, None)
            else:
                values[reg] = value
        return Registers(values)

    @classmethod
    def of(cls, **named: int) -> "Registers":
        return cls({Reg[name.upper()]: value for name, value in named.items()})


class Mapping(NamedTuple):
    """One file (or anonymous) mapping of a process: [start, end) from `offset` of `path`."""

    start: int
    end: int
    offset: int
    path: str | None
    build_id: bytes | None = None
    prot: int | None = None         # PROT_READ | PROT_WRITE | PROT_EXEC (1, 2, 4) when the input says; None if unknown

    def __contains__(self, address: object) -> bool:
        return isinstance(address, int) and self.start <= address < self.end

    def file_offset(self, address: int) -> int:
        """File offset of an absolute address inside this mapping."""
        return address - self.start + self.offset


class ModuleMap:
    """Address -> mapping for one process at one time; immutable after construction."""

    __slots__ = ("_mappings", "_starts")

    def __init__(self, mappings: Iterable[Mapping] = ()):
        self._mappings: tuple[Mapping, ...] = tuple(sorted(mappings, key=lambda m: m.start))
        self._starts = [m.start for m in self._mappings]

    def find(self, address: int) -> Mapping | None:
        i = bisect.bisect_right(self._starts, address) - 1
        if i >= 0 and address < self._mappings[i].end:
            return self._mappings[i]
        return None

    def __iter__(self) -> Iterator[Mapping]:
        return iter(self._mappings)

    def __len__(self) -> int:
        return len(self._mappings)

    def __repr__(self) -> str:
        return f"ModuleMap({list(self._mappings)!r})"


EMPTY_MAP = ModuleMap()


class BranchEntry(NamedTuple):
    """One LBR record: a taken branch from `source` to `target`."""

    source: int
    target: int
    flags: int = 0


class Sample(NamedTuple):
    """A register + stack snapshot (or a recorded callchain) of one thread at one instant."""

    registers: Registers
    stack: bytes | memoryview = b""  # a perf.data sample's is a view into the recording
    stack_base: int = 0
    modules: ModuleMap = EMPTY_MAP
    kernel_callchain: tuple[int, ...] = ()
    user_callchain: tuple[int, ...] = ()
    lbr: tuple[BranchEntry, ...] = ()
    truth: tuple[int, ...] | None = None
    pid: int = 0
    tid: int = 0
    time: int = 0
    period: int = 1
    comm: str = ""
    cpu: int | None = None


class Via(str, Enum):
    """How a frame was found."""

    CONTEXT = "context"
    CFI = "cfi"
    ORC = "orc"
    FP = "fp"
    LBR = "lbr"
    SCAN = "scan"
    KERNEL = "kernel"
    CALLCHAIN = "callchain"
    STITCHED = "stitched"  # taken from another sample of the same thread (unwind.stitch)

    def __str__(self) -> str:
        return self.value


class Frame(NamedTuple):
    """One physical frame. `is_return_address` frames are looked up at pc - 1."""

    pc: int
    sp: int | None = None
    cfa: int | None = None
    via: Via = Via.CONTEXT
    is_return_address: bool = False

    @property
    def lookup_pc(self) -> int:
        """Address for symbol and unwind-table lookup: inside the call instruction for return addresses."""
        return self.pc - 1 if self.is_return_address else self.pc


class Trace(NamedTuple):
    """Frames leaf first, and why the walk stopped."""

    frames: tuple[Frame, ...]
    stop: StopReason

    @property
    def pcs(self) -> tuple[int, ...]:
        return tuple(f.pc for f in self.frames)


def truncated_by_copy(sample: Sample, trace: Trace) -> bool:
    """Whether `trace` stopped on bad memory with its last frame still inside the stack copy."""
    if trace.stop is not StopReason.BAD_MEMORY or not trace.frames or not sample.stack:
        return False
    sp = trace.frames[-1].sp
    return sp is not None and sample.stack_base <= sp < sample.stack_base + len(sample.stack)


@runtime_checkable
class Unwinder(Protocol):
    """Anything that turns a sample into a trace (from its stack copy and mapped files)."""

    name: str

    def unwind(self, sample: Sample) -> Trace: ...


@runtime_checkable
class MemoryUnwinder(Unwinder, Protocol):
    """An unwinder that also walks over a given memory (a core's dump, a live process: a SampleMemory)
    instead of the sample's stack copy and files. It says so with `reads_memory = True`; every built-in
    but the stitched ones does."""

    reads_memory: bool

    def unwind(self, sample: Sample, memory: "SampleMemory | None" = None) -> Trace: ...


def unwind_over(unwinder: Unwinder, sample: Sample, memory: "SampleMemory") -> Trace:
    """`unwinder`'s trace over `memory` where it declares `reads_memory`; other unwinders see the sample's
    stack copy."""
    if isinstance(unwinder, MemoryUnwinder) and unwinder.reads_memory:
        return unwinder.unwind(sample, memory=memory)
    return unwinder.unwind(sample)
