"""A sample's address space: the stack snapshot first, then the loaded bytes of the mapped files."""

from __future__ import annotations

import struct
from typing import Protocol

from .errors import MemoryReadError
from .model import Sample
from .modules import Module, ModuleResolver

_U64 = struct.Struct("<Q")


class MemoryReader(Protocol):
    """What a rule reads through: bytes and little-endian words, MemoryReadError where none are known."""

    def read(self, address: int, size: int) -> bytes: ...

    def read_u64(self, address: int) -> int: ...


class SampleMemory(MemoryReader, Protocol):
    """What the built-in unwinders take as `memory=`: a sample's AddressSpace, a core's CoreMemory, a live
    process's LiveMemory (the sample, the module at an address, whether an address is on a stack)."""

    @property
    def sample(self) -> Sample: ...

    def module_at(self, address: int) -> Module | None: ...

    def in_stack(self, address: int, size: int = 8) -> bool: ...


class AddressSpace:
    """Reads memory as perf's DWARF unwinding does: stack bytes from the snapshot, code and data from files."""

    def __init__(self, sample: Sample, resolver: ModuleResolver | None = None):
        self.sample = sample
        self.resolver = resolver or ModuleResolver()
        # bytes, not a view into the recording: slices of bytes compare with memcmp, views item by item
        self._stack = sample.stack if type(sample.stack) is bytes else bytes(sample.stack)
        self._stack_lo = sample.stack_base
        self._stack_hi = sample.stack_base + len(sample.stack)

    def snapshot(self) -> tuple[bytes, int]:
        """(stack bytes, address of the first): what the walk reads inline for plain offset rules."""
        return self._stack, self._stack_lo

    def in_stack(self, address: int, size: int = 8) -> bool:
        return self._stack_lo <= address and address + size <= self._stack_hi

    def in_snapshot(self, address: int, size: int = 8) -> bool:
        """Whether the stack snapshot holds the `size` bytes at `address` (in_stack may accept more)."""
        return self._stack_lo <= address and address + size <= self._stack_hi

    def module_at(self, address: int) -> Module | None:
        mapping = self.sample.modules.find(address)
        return self.resolver.module_for(mapping) if mapping else None

    def read(self, address: int, size: int) -> bytes:
        if self._stack_lo <= address and address + size <= self._stack_hi:
            start = address - self._stack_lo
            return bytes(self._stack[start:start + size])
        return self.read_files(address, size)

    def read_files(self, address: int, size: int) -> bytes:
        """The loaded bytes of the file mapped at `address`, or MemoryReadError."""
        module = self.module_at(address)
        if module is not None:
            data = module.elf.read_vaddr(module.to_vaddr(address), size)
            if data is not None:
                return data
        raise MemoryReadError(address, size)

    def read_u64(self, address: int) -> int:
        if self._stack_lo <= address and address + 8 <= self._stack_hi:
            word: int = _U64.unpack_from(self._stack, address - self._stack_lo)[0]
        else:
            word = _U64.unpack(self.read(address, 8))[0]
        return word
