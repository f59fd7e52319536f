"""A core file as samples: one `Sample` per thread, and a memory that reads the dump then the mapped files.

Registers come from NT_PRSTATUS, the module map from NT_FILE (plus the vDSO found through
AT_SYSINFO_EHDR), build-ids from the ELF headers the dump keeps, and each thread's stack
snapshot is its PT_LOAD from rsp up. Code and unwind tables that the dump leaves out are
read from the mapped files (under --symfs, by path, or by build-id).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from formats.core import CoreFile, FileMapping, ThreadNotes
from formats.elf import NT_GNU_BUILD_ID, PF_R, PF_W, PF_X, ElfFile, SegmentType, iter_notes
from formats.errors import UnwindError

from .errors import MemoryReadError
from .linkmap import link_map_mappings
from .memory import AddressSpace
from formats.stack import Frame as SymFrame

from .model import Frame, Mapping, ModuleMap, Reg, Registers, Sample
from .modules import Module, ModuleResolver, mapping_bias
from .symbolizer import Symbolizer
from .symtable import LibdwflSymbolsCache
from .unwinders.fp import SIGRETURN

if TYPE_CHECKING:
    from .debuginfod import DebuginfodClient

_U64 = struct.Struct("<Q")
_EHDR_PH = struct.Struct("<QQQIHHHHHH")  # e_entry .. e_shstrndx, read from offset 24
_PHDR = struct.Struct("<IIQQQQQQ")
MAX_STACK = 8 << 20  # the default thread stack size; deeper snapshots are cut here
VDSO = "[vdso]"

# user_regs_struct name -> DWARF register number.
_DWARF = {name.lower(): int(reg) for name, reg in Reg.__members__.items()}


def registers_of(thread: ThreadNotes) -> Registers:
    """The DWARF-numbered general registers of one thread."""
    named = thread.status.named_regs
    return Registers({number: named[name] for name, number in _DWARF.items() if name in named})


class CoreModuleResolver(ModuleResolver):
    """A ModuleResolver that also knows the core's vDSO image."""

    def __init__(self, core: CoreFile, symfs: str | None = None, debug_dirs: Iterable[str] = (),
                 cache_size: int = 256, debuginfod: DebuginfodClient | None = None):
        super().__init__(symfs, debug_dirs, cache_size, debuginfod)
        self.core = core

    def _resolve(self, mapping: Mapping) -> Module | None:
        if mapping.path == VDSO:
            image = self.core.vdso_image
            if image is None:
                return None
            try:
                elf = ElfFile(None, image)
            except UnwindError:
                return None
            return Module(VDSO, elf, mapping_bias(elf, mapping), mapping)
        return super()._resolve(mapping)


class CoreMemory:
    """read/read_u64 over a core: dumped memory first, then the thread's AddressSpace (stack, mapped files).

    `in_stack` accepts the thread's snapshot and any dumped anonymous writable mapping, so a
    frame-pointer walk may leave a sigaltstack for the thread stack the signal interrupted.
    """

    def __init__(self, core: CoreFile, sample: Sample, resolver: ModuleResolver,
                 anonymous: frozenset[tuple[int, int]] | None = None):
        self.core = core
        self.files = AddressSpace(sample, resolver)
        self.module_at = self.files.module_at
        self.resolver = resolver
        self.sample = sample
        self.anonymous = anonymous if anonymous is not None else anonymous_segments(core)

    def in_stack(self, address: int, size: int = 8) -> bool:
        if self.files.in_stack(address, size):
            return True
        seg = self.core.segment_at(address)
        return seg is not None and (seg.vaddr, seg.memsz) in self.anonymous and self.core.has(address, size)

    def read(self, address: int, size: int) -> bytes:
        if size < 0 or address < 0:
            raise MemoryReadError(address, size)
        data = self.core.read(address, size)
        if data is not None:
            return data
        return self.files.read(address, size)

    def read_u64(self, address: int) -> int:
        if self.files.in_stack(address, 8):
            return self.files.read_u64(address)
        word: int = _U64.unpack(self.read(address, 8))[0]
        return word


def anonymous_segments(core: CoreFile) -> frozenset[tuple[int, int]]:
    """(vaddr, memsz) of the writable PT_LOADs that no NT_FILE mapping overlaps: stacks, heap, anonymous mmaps."""
    files = sorted((f.start, f.end) for f in core.files)
    out = set()
    for seg in core.segments:
        end = seg.vaddr + seg.memsz
        if seg.flags & PF_W and not any(start < end and seg.vaddr < stop for start, stop in files):
            out.add((seg.vaddr, seg.memsz))
    return frozenset(out)


@dataclass
class CoreProcess:
    """Everything needed to unwind a core: the parsed file, its module map, resolver and per-thread samples."""

    core: CoreFile
    modules: ModuleMap
    resolver: CoreModuleResolver
    samples: list[Sample]
    _anonymous: frozenset[tuple[int, int]] | None = None

    def memory_for(self, sample: Sample) -> CoreMemory:
        if self._anonymous is None:
            self._anonymous = anonymous_segments(self.core)
        return CoreMemory(self.core, sample, self.resolver, self._anonymous)


def load_core(path: str, exe: str | None = None, symfs: str | None = None,
              debug_dirs: Iterable[str] = (), debuginfod: DebuginfodClient | None = None) -> CoreProcess:
    """Open a core file and build one Sample per thread (in note order); mapped files that are gone are
    fetched from `debuginfod` by the build-ids the core's notes record."""
    core = CoreFile(path)
    modules = module_map(core, exe)
    resolver = CoreModuleResolver(core, symfs, debug_dirs, debuginfod=debuginfod)
    samples = [thread_sample(core, thread, modules) for thread in core.threads]
    return CoreProcess(core, modules, resolver, samples)


def thread_sample(core: CoreFile, thread: ThreadNotes, modules: ModuleMap) -> Sample:
    """One thread: its registers and the stack from rsp to the end of the PT_LOAD holding it."""
    regs = registers_of(thread)
    sp = regs.sp
    stack, base = b"", 0
    seg = core.segment_at(sp) if sp is not None else None
    if seg is not None and sp is not None:
        size = min(seg.vaddr + seg.filesz - sp, MAX_STACK)
        stack = core.read(sp, size) or b"" if size > 0 else b""
        base = sp
    return Sample(regs, stack, base, modules, pid=core.pid, tid=thread.tid, comm=core.command)


def module_map(core: CoreFile, exe: str | None = None) -> ModuleMap:
    """NT_FILE mappings with the build-ids read from the dumped ELF headers, plus the vDSO."""
    exe_path = _main_executable(core)
    build_ids: dict[str, bytes] = {}
    for fm in core.files:
        if fm.offset == 0 and fm.path not in build_ids:
            bid = build_id_at(core, fm.start)
            if bid:
                build_ids[fm.path] = bid
    exe = _matching_exe(exe, build_ids.get(exe_path) if exe_path else None)
    mappings = []
    for fm in core.files:
        path = exe if exe and fm.path == exe_path else fm.path
        mappings.append(Mapping(fm.start, fm.end, fm.offset, path, build_ids.get(fm.path), prot_at(core, fm.start)))
    # libraries the NT_FILE note lacks (or all, without one), from ld.so's link_map in the dumped memory
    mappings += link_map_mappings(core, exe, mappings)
    base = core.vdso_base
    image = core.vdso_image
    if base and image and not any(base in m for m in mappings):
        mappings.append(Mapping(base, base + len(image), 0, VDSO, build_id_at(core, base)))
    return ModuleMap(mappings)


def _matching_exe(exe: str | None, dumped: bytes | None) -> str | None:
    """`exe` (--exe), unless its build-id differs from the one dumped in the core's executable: then the
    core's own path, as eu-stack -e does (libdwfl takes a file for a module only if the build-ids agree),
    with a warning.  An unreadable `exe` or one without a build-id is taken as given."""
    if exe is None or dumped is None:
        return exe
    try:
        own = ElfFile(exe).build_id
    except (UnwindError, OSError):
        return exe
    if own is None or own == dumped:
        return exe
    import warnings

    warnings.warn(f"{exe}: build-id {own.hex()} is not the core's executable's ({dumped.hex()}); "
                  "using the path the core records")
    return None


def prot_at(core: CoreFile, address: int) -> int | None:
    """PROT_* bits of the memory at `address`, from the flags of the core's PT_LOAD covering it."""
    seg = core.segment_at(address)
    if seg is None:
        return None
    return (1 if seg.flags & PF_R else 0) | (2 if seg.flags & PF_W else 0) | (4 if seg.flags & PF_X else 0)


def _main_executable(core: CoreFile) -> str | None:
    """The path of the mapping holding the program headers (AT_PHDR), i.e. the executable."""
    phdr = core.auxv.get(3)
    for fm in core.files:
        if phdr is not None and fm.start <= phdr < fm.end:
            return fm.path
    return core.files[0].path if core.files else None


def build_id_at(core: CoreFile, base: int) -> bytes | None:
    """The GNU build-id of the ELF image mapped at `base`, from its dumped headers; None if not dumped."""
    head = core.read(base, 64)
    if head is None or head[:4] != b"\x7fELF" or head[4] != 2:
        return None
    _entry, phoff, _shoff, _flags, _ehsize, phentsize, phnum, *_ = _EHDR_PH.unpack_from(head, 24)
    if phentsize != _PHDR.size or phnum > 64:
        return None
    table = core.read(base + phoff, phentsize * phnum)
    if table is None:
        return None
    phdrs = [_PHDR.unpack_from(table, i * phentsize) for i in range(phnum)]
    loads = [p for p in phdrs if p[0] == SegmentType.LOAD]
    if not loads:
        return None
    bias = base - min(p[3] - p[2] for p in loads)  # vaddr - offset of the first PT_LOAD
    for typ, _fl, _off, vaddr, _pa, filesz, _memsz, _al in phdrs:
        if typ != SegmentType.NOTE or filesz > 1 << 16:
            continue
        data = core.read(bias + vaddr, filesz)
        if data is None:
            continue
        try:
            for note in iter_notes(data, 0, len(data)):
                if note.type == NT_GNU_BUILD_ID and note.name == b"GNU":
                    return note.desc
        except UnwindError:
            continue
    return None


class FrameNamer:
    """Physical frames -> symbolised frames (`unwind.Frame`): module, ELF offset, build-id, symbol (symbolizer,
    else ELF symbols), as eu-stack names them."""

    def __init__(self, resolver: ModuleResolver, symbolizer: Symbolizer | None = None):
        """`symbolizer` names frames from debug info; without one, from the ELF symbol tables only."""
        self.resolver = resolver
        self.symbols = LibdwflSymbolsCache()
        self.symbolizer = symbolizer

    def describe(self, frame: Frame, modules: ModuleMap, inlines: bool = False,
                 debug_info: bool = True) -> list[SymFrame]:
        """One frame per function at the physical frame (several with `inlines`); `debug_info=False`
        names frames from the ELF symbol tables only, as eu-stack does."""
        mapping = modules.find(frame.pc)
        via = str(frame.via)
        if mapping is None:
            return [SymFrame(frame.pc, via=via)]
        build_id = mapping.build_id.hex() if mapping.build_id else None
        module = self.resolver.module_for(mapping)
        if module is None:
            return [SymFrame(frame.pc, mapping.path, None, build_id, via=via)]
        offset = module.to_vaddr(frame.pc)
        lookup = module.to_vaddr(frame.lookup_pc)
        if frame.is_return_address and module.elf.read_vaddr(lookup + 1, len(SIGRETURN)) == SIGRETURN:
            lookup += 1  # the sigreturn trampoline: named at its own address, as gdb and eu-stack do
        found = self._symbolize(module, lookup, inlines) if debug_info else []
        if not found:
            name = self.symbols.get(module.elf, self.resolver.debug_dirs).name_at(lookup)
            return [SymFrame(frame.pc, mapping.path, offset, build_id, name, via=via)]
        last = len(found) - 1
        return [SymFrame(frame.pc, mapping.path, offset, build_id, sym.symbol, sym.file, sym.line, sym.column,
                         i < last, via, start_line=sym.start_line, start_file=sym.start_file,
                         start_address=sym.start_address, discriminator=sym.discriminator)
                for i, sym in enumerate(found)]

    def _symbolize(self, module: Module, vaddr: int, inlines: bool) -> list[SymFrame]:
        if self.symbolizer is None or module.path == VDSO:
            return []
        try:
            frames = self.symbolizer.symbolize(module.path, [vaddr], inlines=inlines)[0]
        except (UnwindError, OSError):
            return []
        return [f for f in frames if f.symbol] if any(f.symbol for f in frames) else []


__all__ = ["FrameNamer", "CoreMemory", "CoreProcess", "CoreModuleResolver", "FileMapping", "load_core", "module_map",
           "thread_sample", "registers_of", "build_id_at"]
