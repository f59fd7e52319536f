"""Where a sample's leaf pc sits in its function (prologue, epilogue, body, leaf, plt, signal), from CFI rows and code.

The classes, checked in this order (the first that holds wins):

- `signal`: a frame of the reference stack is the rt_sigreturn trampoline (`mov $15,%rax; syscall`,
  the return address the kernel gives a signal handler) or the leaf pc is on one of its two
  instructions: a kernel signal frame is live (in a handler, or returning through the trampoline).
- `unknown`: the pc is in no file-backed ELF module (anonymous memory, [vdso], a missing file).
- `plt`: the pc is in .plt, .plt.sec or .plt.got.
- `prologue`: the FDE covering the pc has not yet reached its body CFA rule; the body rule is the CFA
  rule that covers the most bytes of the FDE (ties: the one reached first).
- `epilogue`: after the first body row the CFA rule in force is not the body rule any more, or the
  instruction at the pc is a return (capstone).
- `leaf`: the function (symbol-table extent, else the FDE range) contains no call instruction.
- `body`: everything else (also: no FDE covers the pc and the function makes calls).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from enum import Enum

import capstone
from cachetools import LRUCache

from formats.errors import UnwindError

from .cfi_state import RuleKey
from .cfi_tables import CfiCache, CompiledCfi
from .memory import AddressSpace
from .model import Sample
from .modules import Module, ModuleResolver
from .prologue import PLT_SECTIONS
from .symtable import name_table

SIGRETURN = bytes.fromhex("48c7c00f0000000f05")  # __restore_rt: mov $15, %rax; syscall (glibc and musl)
SYSCALL_OFFSET = 7  # the syscall instruction inside the trampoline
MAX_FUNCTION = 1 << 20  # disassemble at most this many bytes of one function


class LocationClass(str, Enum):
    """Where a leaf pc sits; the report keys."""

    PROLOGUE = "prologue"
    EPILOGUE = "epilogue"
    BODY = "body"
    LEAF = "leaf"
    PLT = "plt"
    SIGNAL = "signal"
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class Location:
    """The class of a leaf pc plus the module and function it is in (None when unknown).

    `main_depth`: frames from the leaf through the first frame in a function named `main` (None when
    main is not on the reference stack), so scores can ignore the C start-up frames beyond main.
    """

    cls: LocationClass
    module: str | None
    function: str | None
    main_depth: int | None = None


class _ModuleInfo:
    """Per-module lookups the classifier needs: sections, symbols, CFI table; built once."""

    __slots__ = ("plt", "sym_addrs", "symbols", "cfi")

    def __init__(self, module: Module, cfi_cache: CfiCache):
        elf = module.elf
        self.plt = [(s.addr, s.addr + s.size) for s in elf.sections if s.name in PLT_SECTIONS and s.size]
        try:
            names = name_table(elf)
        except UnwindError:
            names = []
        self.symbols = [(addr, size, name) for addr, size, name, _ in names]
        self.sym_addrs = [entry[0] for entry in self.symbols]
        try:
            table = cfi_cache.get(elf)
        except UnwindError:
            table = None
        self.cfi: CompiledCfi | None = table if isinstance(table, CompiledCfi) else None

    def in_plt(self, vaddr: int) -> bool:
        return any(lo <= vaddr < hi for lo, hi in self.plt)

    def symbol(self, vaddr: int) -> tuple[int, int, str] | None:
        i = bisect_right(self.sym_addrs, vaddr) - 1
        if i < 0:
            return None
        addr, size, name = self.symbols[i]
        return (addr, size, name) if size == 0 or vaddr < addr + size else None


def fde_phase(cfi: CompiledCfi, vaddr: int) -> tuple[str | None, tuple[int, int] | None]:
    """('prologue' | 'epilogue' | 'body' | None, FDE range) of `vaddr` by the CFA rows of its FDE."""
    i = bisect_right(cfi.starts, vaddr) - 1
    if i < 0 or vaddr >= cfi.ends[i]:
        return None, None
    start, end = cfi.starts[i], cfi.ends[i]
    lo, hi = cfi.row_slices[i], cfi.row_slices[i + 1]
    if hi <= lo:
        return None, (start, end)
    locs = [max(start, cfi.row_locs[j]) for j in range(lo, hi)]
    cfas = [_cfa_of(cfi.keys[cfi.row_rules[j]]) for j in range(lo, hi)]
    covered: dict[object, int] = {}
    first: dict[object, int] = {}
    for k, cfa in enumerate(cfas):
        row_end = locs[k + 1] if k + 1 < len(locs) else end
        covered[cfa] = covered.get(cfa, 0) + max(0, row_end - locs[k])
        first.setdefault(cfa, k)
    body = max(covered, key=lambda c: (covered[c], -first[c]))
    k = bisect_right(locs, vaddr) - 1
    if k < first[body]:
        return "prologue", (start, end)
    return ("body" if cfas[max(k, 0)] == body else "epilogue"), (start, end)


def _cfa_of(key: RuleKey | None) -> tuple[int, int, int, bytes] | None:
    return None if key is None else key[0]


class LocationClassifier:
    """Classifies leaf pcs of samples; module tables and per-function disassembly are cached."""

    def __init__(self, resolver: ModuleResolver | None = None, cfi_cache: CfiCache | None = None):
        self.resolver = resolver or ModuleResolver()
        self.cfi_cache = cfi_cache or CfiCache(lazy_limit=0)  # whole-module tables: the phases need every row
        self._modules: dict[str, _ModuleInfo] = {}
        self._calls: LRUCache[tuple[str, tuple[int, int]], bool] = LRUCache(4096)
        self._cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)

    def classify(self, sample: Sample, reference: tuple[int, ...] | None = None) -> Location:
        """The location of the sample's leaf pc (reference[0], else the pc register)."""
        pc = reference[0] if reference else sample.registers.pc
        memory = AddressSpace(sample, self.resolver)
        module = memory.module_at(pc) if pc is not None else None
        name = module.path.rsplit("/", 1)[-1] if module else None
        if pc is None:
            return Location(LocationClass.UNKNOWN, None, None)
        info = self._info(module) if module else None
        function = None
        if module is not None and info is not None:
            sym = info.symbol(module.to_vaddr(pc))
            function = sym[2] if sym else None
        depth = self.main_depth(memory, reference or (pc,))
        if _in_sigreturn(memory, pc) or any(_is_sigreturn(memory, a) for a in (reference or ())[1:]):
            return Location(LocationClass.SIGNAL, name, function, depth)
        if module is None or info is None:
            return Location(LocationClass.UNKNOWN, name, function, depth)
        return Location(self._code_class(module, info, memory, pc), name, function, depth)

    def main_depth(self, memory: AddressSpace, stack: tuple[int, ...]) -> int | None:
        """1 + the index of the first frame in `main` (return addresses looked up at pc - 1), else None."""
        for i, address in enumerate(stack):
            module = memory.module_at(address)
            if module is None:
                continue
            sym = self._info(module).symbol(module.to_vaddr(address - (i > 0)))
            if sym is not None and sym[2] == "main":
                return i + 1
        return None

    def _info(self, module: Module) -> _ModuleInfo:
        found = self._modules.get(module.path)
        if found is None:
            found = self._modules[module.path] = _ModuleInfo(module, self.cfi_cache)
        return found

    def _code_class(self, module: Module, info: _ModuleInfo, memory: AddressSpace, pc: int) -> LocationClass:
        vaddr = module.to_vaddr(pc)
        if info.in_plt(vaddr):
            return LocationClass.PLT
        phase, fde = fde_phase(info.cfi, vaddr) if info.cfi is not None else (None, None)
        if phase == "prologue":
            return LocationClass.PROLOGUE
        if phase == "epilogue" or self._is_ret(module, vaddr):
            return LocationClass.EPILOGUE
        sym = info.symbol(vaddr)
        extent = (sym[0], sym[0] + sym[1]) if sym and sym[1] else fde
        if extent is not None and not self._has_call(module, extent):
            return LocationClass.LEAF
        return LocationClass.BODY

    def _is_ret(self, module: Module, vaddr: int) -> bool:
        code = module.elf.read_vaddr(vaddr, 16) or module.elf.read_vaddr(vaddr, 1)
        if not code:
            return False
        insn = next(self._cs.disasm_lite(code, vaddr, 1), None)
        return insn is not None and insn[2].endswith("ret")

    def _has_call(self, module: Module, extent: tuple[int, int]) -> bool:
        key = (module.path, extent)
        found = self._calls.get(key)
        if found is None:
            start, end = extent
            code = module.elf.read_vaddr(start, min(end - start, MAX_FUNCTION)) or b""
            mnemonics = (m for _, _, m, _ in self._cs.disasm_lite(code, start))
            found = self._calls[key] = any(m == "call" or m.endswith(" call") for m in mnemonics)
        return found


def _in_sigreturn(memory: AddressSpace, pc: int) -> bool:
    """Is `pc` the `mov` or the `syscall` of the trampoline?"""
    return _is_sigreturn(memory, pc) or _is_sigreturn(memory, pc - SYSCALL_OFFSET)


def _is_sigreturn(memory: AddressSpace, address: int) -> bool:
    try:
        return memory.read(address, len(SIGRETURN)) == SIGRETURN
    except UnwindError:
        return False
