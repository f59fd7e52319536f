"""Fuzz targets: one function per parser and per command, bytes in, a typed UnwindError or nothing out.

A target raises nothing but `UnwindError` on any input; anything else (a `TypeError`, an
`IndexError`, a `MemoryError`, ...) is a bug the campaign (`tests/fuzz/run.py`) saves as a
regression input and the test suite (`tests/fuzz/test_regressions.py`) replays.

Parser targets call the library directly.  Inputs that hold several byte strings (a DWARF
section set, stack text plus a maps file) use `split`: little-endian u32 length + bytes,
repeated, so a mutation can change one part alone.  Command targets write the input to a
temporary file and run `unwind.cli.main` in-process with UNWIND_DEBUG=1, so an `internal error`
surfaces as the exception it is.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import io
import os
import shutil
import struct
import tempfile
import zlib
from collections.abc import Callable, Iterator

from formats.errors import UnwindError

Target = Callable[[bytes], None]
PARSERS: dict[str, Target] = {}
COMMANDS: dict[str, Target] = {}
TARGETS: dict[str, Target] = {}
_U32 = struct.Struct("<I")


def _parser(name: str) -> Callable[[Target], Target]:
    def register(fn: Target) -> Target:
        PARSERS[name] = TARGETS[name] = fn
        return fn
    return register


def _command(name: str) -> Callable[[Target], Target]:
    def register(fn: Target) -> Target:
        COMMANDS[name] = TARGETS[name] = fn
        return fn
    return register


def split(data: bytes, parts: int) -> list[bytes]:
    """`parts` byte strings from a u32-length-prefixed container (missing ones are empty)."""
    out: list[bytes] = []
    pos = 0
    while len(out) < parts and pos + 4 <= len(data):
        (size,) = _U32.unpack_from(data, pos)
        out.append(data[pos + 4:pos + 4 + size])
        pos += 4 + size
    return out + [b""] * (parts - len(out))


def join(parts: list[bytes]) -> bytes:
    """The container `split` reads."""
    return b"".join(_U32.pack(len(p)) + p for p in parts)


def _u64(data: bytes, at: int) -> int:
    return int.from_bytes(data[at:at + 8].ljust(8, b"\0"), "little")


# ---- parsers ----------------------------------------------------------------------------


@_parser("elf")
def fuzz_elf(data: bytes) -> None:
    from formats.elf import ElfFile
    from formats.symtab import read_symbols

    elf = ElfFile(None, data=data)
    _ = elf.segments, elf.build_id, elf.debuglink, elf.first_load_vaddr
    for section in elf.sections:
        try:
            elf.section_bytes(section)
        except UnwindError:
            pass
    for table in (".symtab", ".dynsym"):
        try:
            read_symbols(elf, table)
        except UnwindError:
            pass
    elf.read_vaddr(elf.entry, 16)
    elf.vaddr_to_offset(elf.entry)
    from unwind.prologue import PLT_SECTIONS, plt_rule  # frame 0 in a PLT stub: the stub's bytes and layout

    for section in elf.sections:
        if section.name in PLT_SECTIONS:
            for offset in (0, 4, 6, 11, 12, 16, 22, 27, 32, 40, section.size - 1):
                plt_rule(elf, section.addr + offset)


@_parser("cfi")
def fuzz_cfi(data: bytes) -> None:
    """An .eh_frame (first byte odd) or .debug_frame, then every FDE's rule table."""
    from formats.cfi.parse import CfiSection, Fde
    from formats.cfi.table import interpret

    if not data:
        return
    section = CfiSection(data[9:], _u64(data, 1), is_eh=bool(data[0] & 1), path="fuzz")
    for count, entry in enumerate(section):
        if count > 200:
            break
        if isinstance(entry, Fde):
            interpret(section, entry)


@_parser("eh_frame_hdr")
def fuzz_eh_frame_hdr(data: bytes) -> None:
    from formats.cfi.hdr import EhFrameHdr

    address = _u64(data, 0)
    hdr = EhFrameHdr.from_bytes(data[8:], address, "fuzz")
    for probe in (0, address, address + 0x1000, (1 << 64) - 1):
        hdr.lookup(probe)


@_parser("dwop")
def fuzz_dwop(data: bytes) -> None:
    """A DW_OP expression over registers and memory taken from the input's first 64 bytes."""
    from unwind.dwarfexpr import evaluate
    from unwind.errors import MemoryReadError

    seed = data[:64].ljust(64, b"\0")
    regs = {i: _u64(seed, 8 * (i % 8)) for i in range(17) if seed[i % 64] & 1}

    class Memory:
        def read(self, address: int, size: int) -> bytes:
            if size > 8 or address & 0xF000:
                raise MemoryReadError(address, size)
            return ((address * 0x9E3779B97F4A7C15) & ((1 << 64) - 1)).to_bytes(8, "little")[:size]

    evaluate(data[64:], regs, Memory(), initial=(_u64(seed, 0),) if seed[1] & 1 else ())


@_parser("line")
def fuzz_line(data: bytes) -> None:
    """.debug_line (+ .debug_str, .debug_line_str): every program decoded, every row looked up."""
    from formats.dwarf.line import iter_line_programs

    line, strs, line_strs = split(data, 3)
    for program in iter_line_programs(line, debug_str=strs, debug_line_str=line_strs, path="fuzz"):
        for lo, hi, _, _ in program.sequences()[:20]:
            program.lookup(lo)
            program.lookup(hi - 1)
        for index in range(-1, len(program.header.file_names) + 1):
            program.header.file_path(index, "/comp")


_DWARF_PARTS = ("info", "abbrev", "str", "line_str", "str_offsets", "addr", "ranges", "rnglists", "aranges")


@_parser("dwarf")
def fuzz_dwarf(data: bytes) -> None:
    """DIEs, abbrevs, ranges, str_offsets, aranges: the scanner and unit lookups the index builder runs."""
    from formats.dwarf.aranges import parse_aranges, unit_address_ranges
    from formats.dwarf.info import compile_units, scan_units
    from formats.dwarf.units import DwarfSections

    sections = DwarfSections(**dict(zip(_DWARF_PARTS, split(data, len(_DWARF_PARTS)), strict=True)), path="fuzz")
    units = compile_units(sections)
    for functions in scan_units(sections):
        for probe in (0, 0x1000, 0x401000):
            functions.chain(probe)
    unit_address_ranges(sections, units)
    parse_aranges(sections.aranges, "fuzz")


class _Sections:
    """An ELF file seen only through `section_bytes` (what the split-DWARF and dwz readers ask of one)."""

    def __init__(self, path: str, **sections: bytes):
        self.path, self._sections = path, sections

    def section_bytes(self, name: str) -> bytes | None:
        return self._sections.get(name)


_DWO_PARTS = ("info", "abbrev", "str", "str_offsets", "rnglists")
_PROBES = (0, 0x1000, 0x1139, 0x401000)


@_parser("split")
def fuzz_split(data: bytes) -> None:
    """Split DWARF: a skeleton's sections, a .dwo's (or .dwp's) `.debug_*.dwo` sections, its cu and tu index.

    As the index builder does (`unwind.index._split_unit`): every skeleton unit is completed from the
    package when the cu index holds its id (else from the first unit the index holds: a hostile
    package can name any id), then from the same sections read as a .dwo file.
    """
    from formats.dwarf.dwp import package_sections, parse_unit_index
    from formats.dwarf.info import scan_units
    from formats.dwarf.split import dwo_sections, scan_split_unit
    from formats.dwarf.units import DwarfSections

    parts = split(data, len(_DWARF_PARTS) + len(_DWO_PARTS) + 2)
    skeleton = DwarfSections(**dict(zip(_DWARF_PARTS, parts, strict=False)), path="fuzz")
    dwo = parts[len(_DWARF_PARTS):len(_DWARF_PARTS) + len(_DWO_PARTS)]
    cu_index, tu_index = parts[-2:]
    package = _Sections("fuzz.dwp", **{f".debug_{name}.dwo": part for name, part in zip(_DWO_PARTS, dwo, strict=True)})
    try:
        parse_unit_index(tu_index, "fuzz.dwp")
    except UnwindError:
        pass
    try:
        index = parse_unit_index(cu_index, "fuzz.dwp") if cu_index else {}
    except UnwindError:
        index = {}
    problems: list = []
    for count, unit in enumerate(scan_units(skeleton)):
        if count > 20:
            break
        if not unit.unit.dwo_name and unit.unit.dwo_id is None:
            continue
        found = []
        contributions = index.get(unit.unit.dwo_id) or next(iter(index.values()), None)
        if contributions is not None:
            found.append(scan_split_unit(unit.unit, package_sections(package, contributions, skeleton), problems))
        found.append(scan_split_unit(unit.unit, dwo_sections(package, skeleton), problems))
        for functions in found:
            for probe in (*_PROBES, *(lo for lo, _ in functions.unit.ranges[:4])) if functions else ():
                functions.chain(probe)


@_parser("dwz")
def fuzz_dwz(data: bytes) -> None:
    """dwz: a binary's DWARF sections, its alternate file's (info, abbrev, str, line), the link and the alt's .debug_sup.

    The link is read as `.gnu_debugaltlink` and as `.debug_sup`; the binary's units are scanned with
    the alternate file's sections attached (DW_FORM_GNU_ref_alt/strp_alt, ref_sup4/8, strp_sup), and
    the alternate file's own units and line tables are read as the index builder reads them.
    """
    from formats.dwarf.aranges import unit_address_ranges
    from formats.dwarf.info import compile_units, scan_units
    from formats.dwarf.line import iter_line_programs
    from formats.dwarf.sup import parse_debug_sup, read_alt_link, supplementary_identity
    from formats.dwarf.units import DwarfSections

    parts = split(data, len(_DWARF_PARTS) + 6)
    alt_info, alt_abbrev, alt_str, alt_line, link, alt_sup = parts[len(_DWARF_PARTS):]
    for source in (_Sections("fuzz", **{".gnu_debugaltlink": link}), _Sections("fuzz", **{".debug_sup": link}),
                   _Sections("fuzz.alt", **{".debug_sup": alt_sup})):
        try:
            read_alt_link(source)
            supplementary_identity(source)
        except UnwindError:
            pass
    try:
        parse_debug_sup(alt_sup, "fuzz.alt")
    except UnwindError:
        pass
    alt = DwarfSections(info=alt_info, abbrev=alt_abbrev, str=alt_str, path="fuzz.alt")
    sections = DwarfSections(**dict(zip(_DWARF_PARTS, parts, strict=False)), path="fuzz", alt=alt)
    units = compile_units(sections)
    for functions in scan_units(sections):
        for probe in (*_PROBES, *(lo for lo, _ in functions.unit.ranges[:4])):
            functions.chain(probe)
    unit_address_ranges(sections, units)
    programs = {program.header.offset: program for program in iter_line_programs(
        alt_line, debug_str=alt_str, path="fuzz.alt", on_error=lambda exc: None)}  # as the index builder skips them
    for unit in compile_units(alt):
        program = programs.get(unit.stmt_list) if unit.stmt_list is not None else None
        if program is not None:
            for index in range(min(len(program.header.file_names), 64)):
                program.header.file_path(index, unit.comp_dir)


@_parser("orc")
def fuzz_orc(data: bytes) -> None:
    from formats.elf import ElfFile
    from formats.orc.table import read_orc

    table = read_orc(ElfFile(None, data=data))
    if table is not None:
        index = table.index()
        for address in table.addresses[:50]:
            index.find(address)
        index.find(0)


@_parser("perfdata")
def fuzz_perfdata(data: bytes) -> None:
    from formats.perfdata.reader import PerfDataReader

    reader = PerfDataReader(data, path="fuzz")
    for count, _record in enumerate(reader.records()):
        if count > 5000:
            break


@_parser("core")
def fuzz_core(data: bytes) -> None:
    from formats.core import CoreFile

    core = CoreFile(None, data=data)
    for thread in core.threads:
        _ = thread.tid
    _ = core.pid, core.command, core.vdso_image
    for segment in core.segments[:20]:
        core.read(segment.vaddr, 64)


@_parser("kallsyms")
def fuzz_kallsyms(data: bytes) -> None:
    """/proc/kallsyms or System.map text (read as the loader reads it: UTF-8, bad bytes replaced)."""
    from formats.kallsyms import parse_kallsyms

    table = parse_kallsyms(data.decode("utf-8", "replace"), "fuzz")
    for probe in (0, 0xFFFFFFFF81000000, (1 << 64) - 1):
        table.lookup(probe)
    table.module_names()


@_parser("stacktext")
def fuzz_stacktext(data: bytes) -> None:
    from formats.procmaps import parse_maps
    from formats.stacktext import parse_stacks

    text, maps = split(data, 2)
    parse_stacks(text.decode("utf-8", "surrogateescape"), "fuzz")
    parse_maps(maps.decode("utf-8", "surrogateescape"), "fuzz.maps")


@_parser("jit")
def fuzz_jit(data: bytes) -> None:
    """A jitdump file (jit-PID.dump) and a perf map (/tmp/perf-PID.map): code loads, moves and names."""
    from formats.jitdump import parse_jitdump
    from formats.perfmap import PerfMap, parse_perf_map

    dump, text = split(data, 2)
    try:
        jit = parse_jitdump(dump, "fuzz.dump")
    except UnwindError:
        pass
    else:
        for code in jit.code[:50]:
            _ = code.address + code.size, code.name.encode("utf-8", "surrogateescape")
    entries = parse_perf_map(text)
    table = PerfMap(entries)
    for entry in entries[:20]:
        table.find(entry.start)
        table.find(entry.end - 1)
    for probe in (0, 0x1000, 0x7F0000000000, (1 << 64) - 1):
        table.find(probe)


PROLOGUE_BYTES = 8192  # past this a mutated input adds time (disassembly is linear), not new paths


@_parser("prologue")
def fuzz_prologue(data: bytes) -> None:
    """Machine code as frame 0's analysis reads it (an ELF function's bytes, or a JIT function's from a jitdump
    or a process's memory): its control-flow states, the rule at every instruction and at a few byte offsets."""
    from unwind.prologue import analyze, caller_unframed, flow_states

    start = 0x400000 + (data[0] if data else 0)
    code = data[1:1 + PROLOGUE_BYTES]
    states = flow_states(code, start)
    for pc in list(states)[:200]:
        analyze(code, start, pc, start + len(code), states)
        caller_unframed(states, pc)
    for offset in (0, 1, len(code) // 2, len(code) - 1):
        analyze(code, start, start + offset)  # a prefix only: linear decoding


_LOC_PARTS = ("loc", "loclists")


@_parser("frame")
def fuzz_frame(data: bytes) -> None:
    """FRAME requests: a unit's DIEs, its variables' locations (.debug_loc / .debug_loclists) and types."""
    from formats.dwarf.info import compile_units
    from formats.dwarf.locals import FrameLocals, LocationSections
    from formats.dwarf.units import DwarfSections

    parts = split(data, len(_DWARF_PARTS) + len(_LOC_PARTS))
    sections = DwarfSections(**dict(zip(_DWARF_PARTS, parts, strict=False)), path="fuzz")
    frames = FrameLocals(sections, LocationSections(*parts[len(_DWARF_PARTS):]))
    for unit in compile_units(sections)[:8]:
        for probe in (*_PROBES, *(lo for lo, _ in unit.ranges[:4])):
            frames.at(unit.offset, probe)


@_parser("reloc")
def fuzz_reloc(data: bytes) -> None:
    """An ELF file as the symbolizer reads its DWARF: relocated in an ET_REL file (.o, .ko), decompressed,
    and the symbol table of its MiniDebugInfo (.gnu_debugdata, xz)."""
    from formats.elf import ElfFile
    from formats.minidebuginfo import mini_debuginfo
    from formats.relocations import debug_section_bytes
    from formats.symtab import read_symbols

    elf = ElfFile(None, data=data)
    for section in elf.sections[:64]:
        if section.name.startswith((".debug_", ".zdebug_")):
            try:
                debug_section_bytes(elf, section.name)
            except UnwindError:
                pass
    mini = mini_debuginfo(elf)
    if mini is not None:
        read_symbols(mini, ".symtab")


INDEX_KEY = b"fuzz-index-key"


def seal_index(data: bytes, key: bytes = INDEX_KEY) -> bytes:
    """The index file `data` with our key and a valid checksum: what a planted or half-written index looks like."""
    from formats.symindex import _HEADER, CONTAINER_VERSION, MAGIC

    if len(data) < _HEADER.size:
        return data
    _, _, old_key_len, count, _ = _HEADER.unpack_from(data, 0)
    old_key_len = min(old_key_len, len(data) - _HEADER.size)
    rest = data[_HEADER.size + old_key_len + (-old_key_len % 8):]
    body = key + b"\0" * (-len(key) % 8) + rest
    return _HEADER.pack(MAGIC, CONTAINER_VERSION, len(key), count, zlib.crc32(body)) + body


@_parser("symindex")
def fuzz_symindex(data: bytes) -> None:
    """An index file under a valid checksum: opened, then every lookup a symbolizer does."""
    from unwind.index import open_index
    from unwind.index_check import check_symbol_index
    from unwind.symbolizer import ModuleSymbols

    with _Files(seal_index(data)) as (path,):
        index = open_index(path, INDEX_KEY, check_symbol_index)  # as load_index opens it
        for naming in ("llvm", "perf"):
            module = ModuleSymbols(index, naming)
            for probe in (0, 0x1000, 0x1139, 0x401000, 0x401136, (1 << 64) - 1):
                module.lookup(probe)


# ---- commands ---------------------------------------------------------------------------


def run_command(argv: list[str]) -> tuple[int, str, str]:
    """unwind.cli.main in-process with UNWIND_DEBUG=1: (exit code, stdout, stderr)."""
    from unwind.cli import main

    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict", write_through=True)
    err = io.StringIO()
    old = os.environ.get("UNWIND_DEBUG")
    os.environ["UNWIND_DEBUG"] = "1"
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse
                code = exc.code if isinstance(exc.code, int) else 2
    finally:
        if old is None:
            del os.environ["UNWIND_DEBUG"]
        else:
            os.environ["UNWIND_DEBUG"] = old
    if "internal error" in err.getvalue():
        raise AssertionError(f"internal error: {err.getvalue()}")
    out.flush()
    return code, out.buffer.getvalue().decode("utf-8", "replace"), err.getvalue()


class _Files:
    """A private directory with the input's parts as files, removed afterwards."""

    def __init__(self, *parts: bytes):
        self.parts = parts

    def __enter__(self) -> list[str]:
        self._dir = tempfile.TemporaryDirectory(prefix="unwind-fuzz-")
        paths = []
        for i, part in enumerate(self.parts):
            path = os.path.join(self._dir.name, f"in{i}")
            with open(path, "wb") as fh:
                fh.write(part)
            paths.append(path)
        return paths

    def __exit__(self, *exc: object) -> None:
        self._dir.cleanup()


@contextlib.contextmanager
def _cache_env() -> Iterator[None]:
    """A private, empty UNWIND_CACHE_DIR: a mutated binary must not leave indexes behind."""
    path = tempfile.mkdtemp(prefix="unwind-fuzz-cache-")
    try:
        with _environ(UNWIND_CACHE_DIR=path):
            yield
    finally:
        shutil.rmtree(path, ignore_errors=True)


@functools.cache
def _host_cache_dir() -> str:
    """One UNWIND_CACHE_DIR per fuzz process for the indexes of unmutated host files (removed at exit)."""
    path = tempfile.mkdtemp(prefix="unwind-fuzz-host-cache-")
    atexit.register(shutil.rmtree, path, True)
    return path


def _host_cache_env() -> contextlib.AbstractContextManager[None]:
    """For commands whose input names host files (perf.data, cores, stacks): their indexes are built once
    per process, not once per input (libc's costs ~1.5 s; the input, not libc, is what is mutated)."""
    return _environ(UNWIND_CACHE_DIR=_host_cache_dir())


def warm_up(name: str, seeds: list[bytes]) -> None:
    """Run a command target's seeds once, outside any time bound, so the indexes of the host files they
    name are in the process's cache (building libc's takes seconds, 16-19 s on a loaded machine: that is
    not an input's cost, and counted against the per-input bound it reads as a hang)."""
    if name not in HOST_CACHED:
        return
    for seed in seeds:
        try:
            TARGETS[name](seed)
        except UnwindError:
            pass


@contextlib.contextmanager
def _environ(**values: str) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@_command("cmd-symbolize")
def cmd_symbolize(data: bytes) -> None:
    with _Files(data) as (obj,), _cache_env():
        for style in ("LLVM", "JSON"):
            run_command(["symbolize", "--obj", obj, "--output-style", style, "0x401000", "0x1139", "0x10"])


HOST_CACHED = ("cmd-perf", "cmd-core", "cmd-stacks")  # the commands run under _host_cache_env


@_command("cmd-perf")
def cmd_perf(data: bytes) -> None:
    with _Files(data) as (recording,), _host_cache_env():
        fmt = ("perf-script", "json", "pprof", "folded")[zlib.crc32(data) % 4]  # one writer per input: 4x the inputs
        run_command(["perf", recording, "--format", fmt, "-j", "1", "--kallsyms", os.devnull])


@_command("cmd-core")
def cmd_core(data: bytes) -> None:
    with _Files(data) as (core,), _host_cache_env():
        run_command(["core", core, "--format", "json"])


@_command("cmd-stacks")
def cmd_stacks(data: bytes) -> None:
    text, maps = split(data, 2)
    with _Files(text, maps) as (stacks, maps_file), _host_cache_env():
        for fmt in ("perf-script", "folded", "pprof", "json"):
            run_command(["stacks", stacks, "--maps", maps_file, "--format", fmt, "--kallsyms", os.devnull])


@_command("cmd-dump-cfi")
def cmd_dump_cfi(data: bytes) -> None:
    with _Files(data) as (path,):
        run_command(["dump-cfi", path])


@_command("cmd-dump-orc")
def cmd_dump_orc(data: bytes) -> None:
    with _Files(data) as (path,):
        run_command(["dump-orc", path])
