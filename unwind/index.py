"""The persistent symbol index of one ELF file: built once from its symbols and DWARF, kept per build-id.

Everything a lookup needs is a flat sorted array (symbols, unit ranges, line rows and
sequences, inline address maps, subroutines) plus one string table, so a warm run maps
the file and answers with bisect, never touching DWARF or pyelftools.
"""

# Annotations are evaluated at import (no `from __future__ import annotations`): typing compiles the
# string annotation of every NamedTuple field, ~0.5 M instructions each (NOTES.md, issue 16).

import os
import warnings
from array import array
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from formats.elf import SHF_EXECINSTR, ElfFile, ElfType, SectionType, symbol_name_error
from formats.errors import FormatError, UnwindError
from formats.symindex import CorruptIndexError, IndexFile, write_index

from .errors import UsageError
from .index_check import check_symbol_index

if TYPE_CHECKING:
    from formats.dwarf.info import CompileUnit, UnitFunctions
    from formats.dwarf.line import LineProgram
    from formats.dwarf.units import DwarfSections

# A .dwp's ElfFile and unit index ({dwo id: {section: (offset, size)}}); None when absent or unreadable.
Package = tuple[ElfFile, dict[int, dict[str, tuple[int, int]]]] | None

SCHEMA = 20  # bump whenever the arrays below change meaning (17: ARM/AArch64/RISC-V symbol rules of LLVM;
#             18: page tables over the symbols, unit ranges and line rows; 19: bad_name; 20: PPC64 relocations)
NO_STRING = 0xFFFFFFFF
NO_ADDRESS = 0xFFFFFFFFFFFFFFFF
NO_SECTION = 0xFFFFFFFF  # LLVM's SectionedAddress::UndefSection, narrowed to the array's width


def cache_dir() -> str:
    """$UNWIND_CACHE_DIR, else $XDG_CACHE_HOME/unwind, else ~/.cache/unwind."""
    explicit = os.environ.get("UNWIND_CACHE_DIR")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "unwind")


class IndexSources(NamedTuple):
    """The files one index is built from: the binary (symbols) and where its DWARF lives."""

    binary: ElfFile
    debug: ElfFile | None
    dwp: str | None = None  # a DWARF package named by the user (--dwp), tried before <binary>.dwp
    alt: ElfFile | None = None  # the dwz alternate / DWARF 5 supplementary file of the DWARF file

    @property
    def dwarf(self) -> ElfFile | None:
        if self.debug is not None and self.debug.section(".debug_info") is not None:
            return self.debug
        return self.binary if self.binary.section(".debug_info") is not None else None

    def key(self) -> bytes:
        """Identity of every input: build-id (or real path), size and mtime of the binary, its debug file and the
        dwz alternate file (a rewritten multifile rebuilds every index that read it)."""
        parts = [f"schema={SCHEMA}".encode()]
        if self.dwp is not None:
            parts.append(f"dwp={os.path.realpath(self.dwp)}".encode())
        for elf in (self.binary, self.debug) + ((self.alt,) if self.alt is not None else ()):
            if elf is None:
                parts.append(b"-")
                continue
            path = _path_of(elf)
            st = os.stat(path)
            ident = elf.build_id.hex() if elf.build_id else os.path.realpath(path)
            parts.append(f"{ident}:{st.st_size}:{st.st_mtime_ns}".encode())
        return b"|".join(parts)

    def file_name(self) -> str:
        """`<build-id>-<digest of key()>.idx`: files sharing a build-id (the original, a stripped copy with
        its debuglink file, a recompressed copy) each keep their own index instead of evicting each other."""
        import zlib

        key = self.key()
        digest = f"{zlib.crc32(key):08x}{zlib.adler32(key):08x}"
        if self.binary.build_id:
            return f"{self.binary.build_id.hex()}-{digest}.idx"
        import hashlib

        return hashlib.sha1(os.path.realpath(_path_of(self.binary)).encode()).hexdigest() + f"-{digest}.path.idx"


def _path_of(elf: ElfFile) -> str:
    """The file an index input was read from: an index is keyed by its inputs' files."""
    if elf.path is None:
        raise UsageError("a symbol index is built from files opened by path, not from bytes in memory")
    return elf.path


class StringTable:
    """Interned strings -> ids; stored as an offsets array plus one UTF-8 blob."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._blob = bytearray()
        self._offsets = array("I", [0])

    def intern(self, text: str) -> int:
        found = self._ids.get(text)
        if found is None:
            found = self._ids[text] = len(self._offsets) - 1
            self._blob += text.encode("utf-8", "surrogateescape")
            self._offsets.append(len(self._blob))
        return found

    def arrays(self) -> "dict[str, array[int] | bytes]":
        return {"str_off": self._offsets, "str_blob": bytes(self._blob)}


def open_index(path: str, key: bytes, check: Callable[[IndexFile], None] | None = None) -> IndexFile:
    """IndexFile(path, key) with its checksum checked once per version of the file, not per run.

    A stamp beside the index records the (inode, size, mtime, ctime) the check passed for; any
    rewrite or replacement changes them, so the next open checks again (~10 ms saved per run and
    large index).  `check` validates the arrays against each other (unwind/index_check.py) each time
    the checksum is checked: a checksum-valid but inconsistent file raises CorruptIndexError.
    """
    st = os.stat(path)
    signature = f"{st.st_ino} {st.st_size} {st.st_mtime_ns} {st.st_ctime_ns}"
    stamp = path + ".ok"
    try:
        with open(stamp) as fh:
            trusted = fh.read() == signature
    except OSError:
        trusted = False
    index = IndexFile(path, key, verify=not trusted)
    if not trusted:
        if check is not None:
            check(index)
        write_atomically(stamp, signature.encode())
    return index


def write_atomically(path: str, data: bytes) -> None:
    """Temp file + rename, so readers never see half a file; a read-only cache only costs speed."""
    import tempfile

    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError:  # disk full, read-only, raced: the old file (if any) stays whole, the temp file goes
        try:
            os.unlink(tmp)
        except OSError:
            pass


def load_index(sources: IndexSources, directory: str | os.PathLike[str] | None = None) -> IndexFile:
    """The index for `sources`, built and saved first if missing, stale or corrupt."""
    path = os.path.join(directory or cache_dir(), sources.file_name())
    key = sources.key()
    try:
        index = open_index(path, key, check_symbol_index)
        if not split_inputs_changed(index):
            return index
    except FileNotFoundError:
        pass
    except (CorruptIndexError, OSError):
        pass  # stale or damaged: rebuild below
    arrays = build_arrays(sources)
    try:
        write_index(path, key, arrays)
        return open_index(path, key, check_symbol_index)
    except OSError:
        # An unwritable cache must not stop symbolisation: use a private temporary file.
        import tempfile

        fd, tmp = tempfile.mkstemp(prefix="unwind-index-")
        os.close(fd)
        write_index(tmp, key, arrays)
        try:
            return IndexFile(tmp, key)  # the mapping outlives the unlinked file
        finally:
            os.unlink(tmp)


# ---- building ---------------------------------------------------------------------------


def build_arrays(sources: IndexSources) -> "dict[str, array[int] | bytes]":
    """Every array of the index, from the binary's symbol table and the DWARF file's debug info."""
    from .symtable import name_table, perf_name_table  # build time only: warm runs never import it

    strings = StringTable()
    arrays: dict[str, array[int] | bytes] = {}
    # llvm-symbolizer's refusal of a symbol name past its string table, if any (one string id, else empty)
    refusal = symbol_name_error(sources.binary)
    arrays["bad_name"] = array("I", [strings.intern(refusal)] if refusal is not None else [])
    # Two function-name tables: llvm-symbolizer's choice ("sym") and perf's ("psym").
    for prefix, table in (("sym", name_table(sources.binary)),
                          ("psym", perf_name_table(sources.binary, sources.debug))):
        addrs, sizes, names, files = array("Q"), array("Q"), array("I"), array("I")
        for addr, size, name, source in table:
            addrs.append(addr)
            sizes.append(size)
            names.append(strings.intern(name))
            files.append(strings.intern(source) if source is not None else NO_STRING)
        arrays.update({f"{prefix}_addr": addrs, f"{prefix}_size": sizes, f"{prefix}_name": names,
                       f"{prefix}_file": files})
        arrays.update(_global_pages(prefix, addrs))
    dwarf = sources.dwarf
    if dwarf is not None and dwarf.type == ElfType.REL:
        # llvm-symbolizer looks a relocatable file's address up in the first code section holding it
        texts = [s for s in sources.binary.sections
                 if s.flags & SHF_EXECINSTR and s.type != SectionType.NOBITS and s.size]
        arrays.update({"txt_lo": array("Q", (s.addr for s in texts)),
                       "txt_hi": array("Q", (s.addr + s.size for s in texts)),
                       "txt_sec": array("I", (s.index for s in texts))})
    if dwarf is not None:
        try:
            arrays.update(_dwarf_arrays(dwarf, strings, sources.dwp, sources.alt))
        except UnwindError as exc:
            warnings.warn(f"{dwarf.path}: DWARF unusable, symbols only: {exc}")
    arrays.update(strings.arrays())
    return {name: _narrowest(data) for name, data in arrays.items()}


def _narrowest(data: "array[int] | bytes") -> "array[int] | bytes":
    """An unsigned 32-bit array whose values all fit 16 bits is stored as 16-bit (a smaller file to map)."""
    if isinstance(data, array) and data.typecode == "I" and (not data or max(data) < 0xFFFF):
        return array("H", data)
    return data


def _decode_line_programs(path: str) -> "dict[int, LineProgram]":
    """Child-process half of the build: every line program of `path`, keyed by section offset."""
    from formats.dwarf.line import iter_line_programs
    from formats.relocations import debug_section_bytes

    elf = ElfFile(path)
    debug_line = debug_section_bytes(elf, ".debug_line") or b""
    programs: dict[int, LineProgram] = {}
    for program in iter_line_programs(debug_line, debug_str=debug_section_bytes(elf, ".debug_str"),
                                      debug_line_str=debug_section_bytes(elf, ".debug_line_str"), path=path,
                                      on_error=lambda exc: warnings.warn(f"skipping line program: {exc}")):
        programs[program.header.offset] = program
    return programs


def _dwarf_arrays(elf: ElfFile, strings: StringTable, dwp: str | None = None,
                  alt: ElfFile | None = None) -> "dict[str, array[int]]":
    from dataclasses import replace

    from formats.dwarf.aranges import unit_address_ranges
    from formats.dwarf.info import DwarfSections, scan_units
    from formats.dwarf.names import ALT_TAG
    from formats.relocations import relocation_sections

    from contextlib import ExitStack

    # The line programs decode in a forked child while this process scans the DIEs (unwind/fanout.py's
    # `forked`: the child is reaped, killed first if need be, however the scan ends).
    line_section = elf.section(".debug_line")
    path = _path_of(elf)
    with ExitStack() as stack:
        pending = None
        if (os.cpu_count() or 1) > 1 and line_section is not None and line_section.size > 1 << 20:
            import pickle

            from .fanout import forked

            pending = stack.enter_context(forked(lambda: pickle.dumps(_decode_line_programs(path), protocol=5)))
        sections = DwarfSections.from_elf(elf)
        alt_sections = DwarfSections.from_elf(alt) if alt is not None else None
        if alt_sections is not None:
            sections = replace(sections, alt=alt_sections)
        packages: dict[str, Package] = {}  # .dwp path -> (ElfFile, unit index) or None, read once per build
        dwps = ((dwp,) if dwp else ()) + (path + ".dwp",)
        dwos: list[str] = []  # every .dwo path looked at, found or not
        units = [_split_unit(uf, elf, sections, packages, dwps, dwos)
                 if uf.unit.dwo_name or uf.unit.dwo_id is not None else uf for uf in scan_units(sections)]
        programs = pickle.loads(pending()) if pending is not None else _decode_line_programs(path)

    out = {name: array(code) for name, code in _DWARF_ARRAYS.items()}
    # A relocatable file's sequences belong to sections (LLVM's SectionedAddress); others have none.
    relocatable = elf.type == ElfType.REL
    line_section = elf.section(".debug_line")
    targets = relocation_sections(elf, line_section) if relocatable and line_section is not None else {}
    if relocatable:
        out["seq_sec"] = array("I")
    unit_index = {}
    # File tables first (local index -> string ids of the absolute and relative paths LLVM prints):
    # a subroutine's DW_AT_decl_file indexes the table of the unit owning the declaration DIE,
    # which may be any unit (LTO, dwz).
    tables = {uf.unit.offset: _file_table(uf.unit, programs, strings) for uf in units}
    if alt is not None and alt_sections is not None and any(
            sub.decl_unit is not None and sub.decl_unit & ALT_TAG for uf in units for sub in uf.subroutines):
        tables.update(_alt_file_tables(alt_sections, _path_of(alt), strings))
    for ui, uf in enumerate(units):
        unit = uf.unit
        unit_index[unit.offset] = ui
        out["cu_off"].append(unit.offset)  # where FRAME requests read the unit's DIEs again
        program = programs.get(unit.stmt_list) if unit.stmt_list is not None else None
        out["cu_file_base"].append(len(out["files"]))
        file_ids, rel_ids, base_ids = tables[unit.offset]
        out["files"].extend(file_ids)
        out["files_rel"].extend(rel_ids)
        out["files_base"].extend(base_ids)
        out["cu_file_count"].append(len(file_ids))
        # Line rows and LLVM's sequences (sorted by high pc) for this unit.
        out["cu_seq_first"].append(len(out["seq_lo"]))
        if program is not None:
            base = len(out["row_addr"])
            rows = program.rows
            out["row_addr"].extend(rows.address)
            out["row_file"].extend(rows.file)
            out["row_line"].extend(rows.line)
            out["row_col"].extend(rows.column)
            out["row_disc"].extend(rows.discriminator)
            sequences = [(NO_SECTION, lo, hi, first, end) for lo, hi, first, end in program.sequences()]
            if relocatable:
                set_at = dict(zip(rows.end_rows, rows.set_address_at))
                sequences = sorted(((targets.get(set_at[end - 1], NO_SECTION), lo, hi, first, end)
                                    for _, lo, hi, first, end in sequences), key=lambda s: (s[0], s[2]))
            for sec, lo, hi, first, end in sequences:
                out["seq_lo"].append(lo)
                out["seq_hi"].append(hi)
                out["seq_first"].append(base + first)
                out["seq_end"].append(base + end)
                if relocatable:
                    out["seq_sec"].append(sec)
        out["cu_seq_end"].append(len(out["seq_lo"]))
        # Subroutines (global numbering) and the unit's innermost-subroutine address map.
        sub_base = len(out["sub_name"])
        for sub in uf.subroutines:
            out["sub_name"].append(strings.intern(sub.name) if sub.name else NO_STRING)
            out["sub_short"].append(strings.intern(sub.short_name) if sub.short_name else NO_STRING)
            out["sub_parent"].append(sub.parent + sub_base if sub.is_inlined and sub.parent >= 0 else -1)
            call_path = file_ids[sub.call_file] if 0 <= sub.call_file < len(file_ids) else NO_STRING
            out["sub_call_file"].append(call_path)
            known_call = 0 <= sub.call_file < len(rel_ids)
            out["sub_call_file_rel"].append(rel_ids[sub.call_file] if known_call else NO_STRING)
            out["sub_call_file_base"].append(base_ids[sub.call_file] if known_call else NO_STRING)
            out["sub_call_line"].append(sub.call_line)
            out["sub_call_col"].append(sub.call_column)
            out["sub_call_disc"].append(sub.call_discriminator)
            out["sub_decl_line"].append(sub.decl_line)
            out["sub_low"].append(sub.low_pc if sub.low_pc is not None else NO_ADDRESS)
            decl_ids, decl_rel, decl_base = tables.get(sub.decl_unit, (file_ids, rel_ids, base_ids)) \
                if sub.decl_unit is not None else (file_ids, rel_ids, base_ids)
            decl = sub.decl_file if sub.decl_file is not None and sub.decl_file < len(decl_ids) else None
            out["sub_start_file"].append(decl_ids[decl] if decl is not None else NO_STRING)
            out["sub_start_file_rel"].append(decl_rel[decl] if decl is not None else NO_STRING)
            out["sub_start_file_base"].append(decl_base[decl] if decl is not None else NO_STRING)
        out["cu_adm_first"].append(len(out["adm_start"]))
        out["adm_start"].extend(uf.starts)
        out["adm_end"].extend(uf.ends)
        out["adm_sub"].extend(w + sub_base for w in uf.which)
        out["cu_adm_end"].append(len(out["adm_start"]))

    unclosed = [(ui, uf.unit.end, uf.unclosed_at) for ui, uf in enumerate(units) if uf.unclosed_at is not None]
    if unclosed:  # units whose children are not closed before their end: LLVM warns when it reads them
        out["bad_cu"] = array("I", (ui for ui, _, _ in unclosed))
        out["bad_end"] = array("Q", (end for _, end, _ in unclosed))
        out["bad_at"] = array("Q", (at for _, _, at in unclosed))
    for lo, hi, unit_offset in unit_address_ranges(sections, units):
        if unit_offset in unit_index:
            out["ar_lo"].append(lo)
            out["ar_hi"].append(hi)
            out["ar_cu"].append(unit_index[unit_offset])
    out.update(_global_pages("ar", out["ar_lo"]))
    out.update(_row_pages(out))
    probed = list(dict.fromkeys([*packages, *dwos]))
    if probed:
        # The split files' identities: a rebuilt (or new, or deleted) .dwo or .dwp makes the index stale
        # although the binary is unchanged (load_index checks them on every open).
        out["split_file"] = array("I", (strings.intern(path) for path in probed))
        idents = [file_identity(path) for path in probed]
        out["split_size"] = array("Q", (size for size, _ in idents))
        out["split_mtime"] = array("Q", (mtime for _, mtime in idents))
    return out


# ---- page tables: where a bisect over a long sorted array starts and ends ------------------
#
# A probe of a bisect over an index array costs ~300 instructions in Python (an int made, compared and
# freed), so a lookup bisects only the few entries of the address's page: entry p of a page table is
# the first index whose address is at or above the start of page p (pages of 1 << shift bytes from the
# page of the lowest address), clamped to the bounds the full bisect had.  Then
# bisect_right(addrs, v, table[p], table[p + 1]) == bisect_right(addrs, v, low, high) for every v in
# page p of a sorted range: what lies before table[p] is below the page's start (<= v), what lies from
# table[p + 1] on is at or above the next page's start (> v).  The shift gives a page PAGE_FILL
# addresses on average, so a table has at most ~2 / PAGE_FILL entries per address; a range with fewer
# than 2 * PAGE_FILL addresses, or not sorted, has one page of everything (shift 64: p is always 0).

PAGE_FILL = 8
WHOLE = 64  # the shift of a one-page table


def page_table(addrs: "array[int]", first: int, end: int, lo_addr: int, hi_addr: int, low: int,
               high: int) -> tuple[int, list[int]]:
    """(shift, entries) of the page table of the sorted addrs[first:end] for addresses in [lo_addr, hi_addr],
    entries clamped to [low, high]: (hi_addr >> shift) - (lo_addr >> shift) + 2 of them."""
    from bisect import bisect_left

    count, span = end - first, hi_addr - lo_addr
    if count < 2 * PAGE_FILL or span <= 0 or sorted(addrs[first:end]) != addrs[first:end].tolist():
        return WHOLE, [low, high]
    shift = min(WHOLE, (span * PAGE_FILL // count).bit_length())
    base = lo_addr >> shift
    entries, i = [], first
    for page in range((hi_addr >> shift) - base + 2):
        i = bisect_left(addrs, (base + page) << shift, i, end)
        entries.append(min(max(i, low), high))
    return shift, entries


def _global_pages(name: str, addrs: "array[int]") -> "dict[str, array[int]]":
    """`{name}_page` over a whole sorted array and `{name}_page_at` = (shift, base page, last page): a lookup
    clamps its page into [0, last] (below the lowest address: page 0; above the highest: the last)."""
    lo, hi = (addrs[0], addrs[-1]) if addrs else (0, 0)
    shift, entries = page_table(addrs, 0, len(addrs), lo, hi, 0, len(addrs))
    return {f"{name}_page": array("I", entries),
            f"{name}_page_at": array("Q", (shift, lo >> shift, len(entries) - 2))}


def _row_pages(out: "dict[str, array[int]]") -> "dict[str, array[int]]":
    """A page table per line sequence over its rows, for addresses in [seq_lo, seq_hi): `seq_shift`,
    `seq_page` (where page p of sequence k is: seq_page[k] + (v >> seq_shift[k])) and `row_page`, entries
    clamped to the bounds of LLVM's row search (first + 1, end - 1)."""
    rows = out["row_addr"]
    shifts, starts, pages = array("B"), array("q"), array("I")
    for lo, hi, first, end in zip(out["seq_lo"], out["seq_hi"], out["seq_first"], out["seq_end"]):
        shift, entries = page_table(rows, first, end, lo, hi - 1, first + 1, end - 1)
        shifts.append(shift)
        starts.append(len(pages) - (lo >> shift))
        pages.extend(entries)
    return {"seq_shift": shifts, "seq_page": starts, "row_page": pages}


def file_identity(path: str) -> tuple[int, int]:
    """(size, mtime in ns) of a file, (NO_ADDRESS, NO_ADDRESS) when there is none."""
    try:
        st = os.stat(path)
    except OSError:
        return NO_ADDRESS, NO_ADDRESS
    if not os.path.isfile(path):
        return NO_ADDRESS, NO_ADDRESS
    return st.st_size, st.st_mtime_ns


def split_inputs_changed(index: IndexFile) -> bool:
    """Has a .dwo or .dwp the index was built from (or looked for and missed) changed since?"""
    names = index.names()
    if "split_file" not in names:
        return False
    offsets, blob = index.array("str_off"), index.array("str_blob")
    for sid, size, mtime in zip(index.array("split_file"), index.array("split_size"), index.array("split_mtime")):
        path = str(blob[offsets[sid]:offsets[sid + 1]], "utf-8", "surrogateescape")
        if file_identity(path) != (size, mtime):
            return True
    return False


def dwo_candidates(dwo_name: str, comp_dir: str | None, binary_path: str | None) -> list[str]:
    """Where llvm looks for a skeleton's .dwo: DW_AT_dwo_name (under DW_AT_comp_dir when relative), then
    the binary's directory."""
    out = [dwo_name if os.path.isabs(dwo_name) or not comp_dir else os.path.join(comp_dir, dwo_name)]
    if binary_path:
        out.append(os.path.join(os.path.dirname(binary_path), os.path.basename(dwo_name)))
    return out


def _package(path: str, packages: dict[str, Package]) -> Package:
    """(ElfFile, {dwo id: contributions}) of the .dwp at `path`, None when absent or unreadable (cached)."""
    if path not in packages:
        from formats.dwarf.dwp import parse_unit_index

        packages[path] = None
        if os.path.isfile(path):
            try:
                dwp = ElfFile(path)
                packages[path] = (dwp, parse_unit_index(dwp.section_bytes(".debug_cu_index") or b"", path))
            except (UnwindError, OSError) as exc:
                warnings.warn(f"{path}: unreadable DWARF package: {exc}")
    return packages[path]


def _split_unit(uf: "UnitFunctions", elf: ElfFile, sections: "DwarfSections", packages: dict[str, Package],
                dwps: tuple[str, ...], dwos: list[str]) -> "UnitFunctions":
    """The skeleton unit `uf` with its split unit's subroutines from the .dwp or .dwo (unchanged when none)."""
    from formats.dwarf.dwp import package_sections
    from formats.dwarf.split import dwo_sections, scan_split_unit

    problems: list[FormatError] = []
    for dwp_path in dwps:
        package = _package(dwp_path, packages)
        if package is not None and uf.unit.dwo_id in package[1]:
            found = scan_split_unit(uf.unit, package_sections(package[0], package[1][uf.unit.dwo_id], sections),
                                    problems)
            if found is not None:
                return found
    for candidate in dwo_candidates(uf.unit.dwo_name or "", uf.unit.comp_dir, elf.path):
        dwos.append(candidate)
        if not os.path.isfile(candidate):
            continue
        try:
            dwo = ElfFile(candidate)
        except (UnwindError, OSError) as exc:
            warnings.warn(f"{candidate}: unreadable split DWARF file: {exc}")
            continue
        found = scan_split_unit(uf.unit, dwo_sections(dwo, sections), problems)
        if found is not None:
            return found
    warnings.warn(f"{elf.path}: split DWARF unit {uf.unit.dwo_name} not found; no inline frames for it")
    return uf


def _alt_file_tables(alt: "DwarfSections", path: str,
                     strings: StringTable) -> dict[int, tuple[list[int], list[int], list[int]]]:
    """File tables of the alternate file's (partial) units, keyed by ALT_TAG | unit offset."""
    from formats.dwarf.info import compile_units
    from formats.dwarf.names import ALT_TAG

    programs = _decode_line_programs(path)
    return {ALT_TAG | unit.offset: _file_table(unit, programs, strings) for unit in compile_units(alt)}


def _file_table(unit: "CompileUnit", programs: "dict[int, LineProgram]",
                strings: StringTable) -> tuple[list[int], list[int], list[int]]:
    """String ids of a unit's line-table files: absolute paths, and as --relativenames and --basenames print
    them."""
    program = programs.get(unit.stmt_list) if unit.stmt_list is not None else None
    file_ids: list[int] = []
    rel_ids: list[int] = []
    base_ids: list[int] = []
    if program is not None:
        header = program.header
        count = len(header.file_names) + (1 if header.version < 5 else 0)
        for i in range(count):
            path = header.file_path(i, unit.comp_dir)
            file_ids.append(strings.intern(path) if path is not None else NO_STRING)
            path = header.file_path(i, unit.comp_dir, relative=True)
            rel_ids.append(strings.intern(path) if path is not None else NO_STRING)
            path = header.file_path(i, unit.comp_dir, base=True)
            base_ids.append(strings.intern(path) if path is not None else NO_STRING)
    return file_ids, rel_ids, base_ids


_DWARF_ARRAYS = {
    "cu_off": "Q", "cu_file_base": "I", "cu_file_count": "I", "files": "I", "files_rel": "I", "sub_short": "I",
    "sub_call_file_rel": "I", "sub_start_file_rel": "I", "files_base": "I", "sub_call_file_base": "I",
    "sub_start_file_base": "I",
    "cu_seq_first": "I", "cu_seq_end": "I", "seq_lo": "Q", "seq_hi": "Q", "seq_first": "I", "seq_end": "I",
    "row_addr": "Q", "row_file": "I", "row_line": "I", "row_col": "I", "row_disc": "I",
    "sub_name": "I", "sub_parent": "i", "sub_call_file": "I", "sub_call_line": "I", "sub_call_col": "I",
    "sub_call_disc": "I", "sub_decl_line": "I", "sub_low": "Q", "sub_start_file": "I",
    "cu_adm_first": "I", "cu_adm_end": "I", "adm_start": "Q", "adm_end": "Q", "adm_sub": "I",
    "ar_lo": "Q", "ar_hi": "Q", "ar_cu": "I",
}
