"""Addresses -> functions, files, lines and inline chains, answered from the persistent index.

`Symbolizer(...).symbolize(path, vaddrs)` gives, per ELF virtual address, the frames
llvm-symbolizer gives: innermost inline first, the outermost named from the symbol table.
"""

from __future__ import annotations

import os
from bisect import bisect_left, bisect_right
from typing import TYPE_CHECKING, Iterable, Sequence

from formats.elf import ElfFile, check_string_table
from formats.errors import StringTableError, UnwindError
from formats.stack import Frame
from formats.symindex import IndexFile

from .caches import LRU, CacheStats
from .demangle import Demangler
from .index import NO_ADDRESS, NO_SECTION, NO_STRING, IndexSources, load_index
from .symbolize_output import BAD_STRING
from .debuginfo import DEFAULT_DEBUG_DIRS, find_alt_file, find_debug_file
from .errors import UsageError

if TYPE_CHECKING:
    from .debuginfod import DebuginfodClient
    from .frame_locals import FrameLocal, FrameReader

NAMINGS = ("llvm", "perf")  # whose symbol-table rules name the outermost frame
_CallSite = tuple[str | None, int, int, int]  # where an inlined subroutine was called: file, line, column, disc.

def _small(view: "memoryview[int]") -> "Sequence[int]":
    """A per-unit or per-page array of at most SMALL entries as a list, else the view: reading a list item
    costs a few dozen instructions, a memoryview item ~200 (an int is made each time), and a lookup reads a
    dozen of these an address; a list of 4096 ints costs ~0.1 M instructions once, when the module opens."""
    return view.tolist() if len(view) <= SMALL else view


SMALL = 4096


class ModuleSymbols:
    """Lookups over one module's index; every method is a handful of bisects."""

    # The DWARF arrays (views into the index), set by name in __init__ when the index has DWARF.
    _cu_file_base: memoryview
    _cu_file_count: memoryview
    _files: memoryview
    _cu_seq_first: memoryview
    _cu_seq_end: memoryview
    _seq_lo: memoryview
    _seq_hi: memoryview
    _seq_first: memoryview
    _seq_end: memoryview
    _row_addr: memoryview
    _row_file: memoryview
    _row_line: memoryview
    _row_col: memoryview
    _row_disc: memoryview
    _sub_name: memoryview
    _sub_parent: memoryview
    _sub_call_file: memoryview
    _sub_call_line: memoryview
    _sub_call_col: memoryview
    _sub_call_disc: memoryview
    _sub_decl_line: memoryview
    _sub_low: memoryview
    _sub_start_file: memoryview
    _cu_adm_first: memoryview
    _cu_adm_end: memoryview
    _adm_start: memoryview
    _adm_end: memoryview
    _adm_sub: memoryview
    _ar_lo: memoryview
    _ar_hi: memoryview
    _ar_cu: memoryview
    _files_rel: memoryview
    _files_base: memoryview
    _sub_call_file_base: memoryview
    _sub_start_file_base: memoryview
    _sub_short: memoryview
    _sub_call_file_rel: memoryview
    _sub_start_file_rel: memoryview
    _cu_off: memoryview

    def __init__(self, index: IndexFile, naming: str = "llvm", path: str | None = None,
                 demangler: Demangler | None = None):
        """`naming` picks whose symbol-table rules name the outermost frame: "llvm" or "perf"; `path`
        is the module the frames name; `demangler` the caller's (else one of its own)."""
        self.index = index
        self.path = path
        a = index.array
        self._str_off, self._str_blob = a("str_off"), a("str_blob")  # zero-copy views
        prefix = {"llvm": "sym", "perf": "psym"}[naming]
        demangler = demangler if demangler is not None else Demangler()
        self._demangle = demangler.perf if naming == "perf" else demangler.llvm
        self._sym_addr, self._sym_size = a(f"{prefix}_addr"), a(f"{prefix}_size")
        self._sym_name, self._sym_file = a(f"{prefix}_name"), a(f"{prefix}_file")
        # page tables (unwind/index.py, page_table): (entries, (shift, base page, last page))
        self._sym_pages = (_small(a(f"{prefix}_page")), tuple(a(f"{prefix}_page_at")))
        self.has_dwarf = "ar_lo" in index.names()
        if self.has_dwarf:
            for name in ("cu_file_base", "cu_file_count", "files", "cu_seq_first", "cu_seq_end", "seq_lo",
                         "seq_hi", "seq_first", "seq_end", "row_addr", "row_file", "row_line", "row_col",
                         "row_disc", "sub_name", "sub_parent", "sub_call_file", "sub_call_line", "sub_call_col",
                         "sub_call_disc", "sub_decl_line", "sub_low", "sub_start_file", "cu_adm_first", "cu_adm_end",
                         "adm_start", "adm_end", "adm_sub", "ar_lo", "ar_hi", "ar_cu", "files_rel", "sub_short",
                         "sub_call_file_rel", "sub_start_file_rel", "cu_off", "files_base", "sub_call_file_base",
                         "sub_start_file_base"):
                setattr(self, "_" + name, a(name))
        names = index.names()
        # relocatable files: sequences carry their section, addresses pick theirs from the code sections
        self._seq_sec = a("seq_sec") if "seq_sec" in names else None
        self._txt = (a("txt_lo"), a("txt_hi"), a("txt_sec")) if "txt_lo" in names else None
        # units LLVM warns about when it first reads their DIEs: unit -> (its end, where LLVM reads past it)
        self._unclosed = dict(zip(a("bad_cu"), zip(a("bad_end"), a("bad_at")))) if "bad_cu" in names else {}
        self._strings: dict[int, str | None] = {NO_STRING: None}
        self._demangled: dict[int, str | None] = {NO_STRING: None}  # function names demangled, by string id
        # where each inlined subroutine was called, as lookup_many reads it once, by (relative, basename)
        self._call_sites: dict[tuple[bool, bool], dict[int, _CallSite]] = {}
        if self.has_dwarf:  # what lookup_many takes in one unpacking
            self._lookup_arrays = (
                _small(self._ar_lo), _small(self._ar_hi), _small(self._ar_cu), _small(a("ar_page")),
                tuple(a("ar_page_at")), _small(self._cu_adm_first), _small(self._cu_adm_end), self._adm_start,
                self._adm_end, self._adm_sub, self._sub_parent, _small(self._cu_seq_first), _small(self._cu_seq_end),
                _small(self._seq_lo), _small(self._seq_hi), _small(a("seq_shift")), _small(a("seq_page")),
                a("row_page"), self._row_addr, self._row_file, self._row_line, self._row_col, self._row_disc,
                _small(self._cu_file_base), _small(self._cu_file_count), self._sub_decl_line, self._sub_low,
                self._sub_call_line, self._sub_call_col, self._sub_call_disc)

    def _demangled_name(self, sid: int) -> str | None:
        """String `sid` demangled by the module's naming (None for NO_STRING), demangled once."""
        offsets = self._str_off  # (NO_STRING is preset)
        text = str(self._str_blob[offsets[sid]:offsets[sid + 1]], "utf-8", "surrogateescape")
        found = self._demangled[sid] = self._demangle(text) if text else text
        return found

    def string(self, sid: int) -> str | None:
        """String `sid` of the index (None for NO_STRING), decoded once."""
        strings = self._strings
        if sid in strings:
            return strings[sid]
        found = strings[sid] = str(self._str_blob[self._str_off[sid]:self._str_off[sid + 1]], "utf-8",
                                   "surrogateescape")
        return found

    def symbol_at(self, vaddr: int) -> tuple[str | None, int, int, str | None] | None:
        """(name, start, size, source file) of the symbol-table entry covering `vaddr`, by LLVM's rule."""
        i = bisect_right(self._sym_addr, vaddr) - 1
        if i < 0:
            return None
        size = self._sym_size[i]
        if size and self._sym_addr[i] + size <= vaddr:
            return None
        return self.string(self._sym_name[i]), self._sym_addr[i], size, self.string(self._sym_file[i])

    def unit_at(self, vaddr: int) -> int | None:
        """The unit `vaddr` belongs to (LLVM's getCompileUnitForAddress), None without DWARF or outside every unit."""
        if not self.has_dwarf:
            return None
        i = bisect_right(self._ar_lo, vaddr) - 1
        unit = self._ar_cu[i] if i >= 0 and vaddr < self._ar_hi[i] else None
        if unit is not None and unit in self._unclosed:
            self._warn_unclosed(unit)
        return unit

    def _warn_unclosed(self, unit: int) -> None:
        """LLVM 14's warning (DWARFDebugInfoEntry::extractFast), once per unit, when a lookup first reads
        the DIEs of a unit that ends before the null entries closing its children."""
        end, at = self._unclosed.pop(unit)
        import warnings

        from .errors import PeerWarning

        warnings.warn(PeerWarning(f"DWARF unit from offset 0x{self._cu_off[unit]:08x} incl. to offset 0x{end:08x} "
                                  f"excl. tries to read DIEs at offset 0x{at:08x}"), stacklevel=2)

    def unit_offset(self, unit: int) -> int:
        """The .debug_info offset of unit number `unit` (a split unit's skeleton)."""
        return self._cu_off[unit]

    def file_name(self, unit: int, local: int) -> str | None:
        """Entry `local` of the unit's line-table file names, as an absolute path (None: no such entry)."""
        return self._file(unit, local)

    def _file(self, unit: int, local: int, relative: bool = False, basename: bool = False) -> str | None:
        if local >= self._cu_file_count[unit]:
            return None
        table = self._files_base if basename else self._files_rel if relative else self._files
        return self.string(table[self._cu_file_base[unit] + local])

    def lookup(self, vaddr: int, inlines: bool = True, symbol_table: bool = True,
               demangle: bool = False, lines: bool = True, short: bool = False,
               relative: bool = False, basename: bool = False) -> list[Frame]:
        """Frames for one address, innermost first (one frame unless `inlines`): `lookup_many` of one."""
        return self.lookup_many((vaddr,), inlines, symbol_table, demangle, lines, short, relative, basename)[0]

    def lookup_many(self, vaddrs: Iterable[int], inlines: bool = True, symbol_table: bool = True,
                    demangle: bool = False, lines: bool = True, short: bool = False,
                    relative: bool = False, basename: bool = False) -> list[list[Frame]]:
        """Frames for each address, innermost first (one frame unless `inlines`), by LLVM 14's rules.

        Unit (aranges), innermost subroutine (the unit's address map) and line row (the unit's
        sequences, then the last row at or before the address): three bisect steps, then the parents of
        the subroutine up to the subprogram.  With `symbol_table` the outermost frame is named from the ELF
        symbol table, as llvm-symbolizer does.  Without `lines` (and without inlines) a symbol-table hit
        answers alone: no file or line.  `short` names functions by DW_AT_name alone (--functions=short);
        `relative` gives file names without the compilation directory (--relativenames), `basename` only
        their last component (--basenames: DWARF names only, a symbol-table file name stays as it is, as
        in LLVM).  One loop over the batch with every array a local: this is the warm run's hot path.
        """
        new, path, string = tuple.__new__, self.path, self.string
        strings = self._strings  # id -> text, filled by `string`
        sym_addr, sym_size, sym_name, sym_file = self._sym_addr, self._sym_size, self._sym_name, self._sym_file
        sym_page, (sym_shift, sym_base, sym_last) = self._sym_pages
        # function names by string id: demangled (memo `_demangled`, one demangler call per name) or as stored
        named, name_of = (self._demangled, self._demangled_name) if demangle else (strings, string)
        dwarf = self.has_dwarf
        if dwarf:
            (ar_lo, ar_hi, ar_cu, ar_page, (ar_shift, ar_base, ar_last), adm_first, adm_end_of_cu, adm_start, adm_end,
             adm_sub, parent, seq_first_of_cu, seq_end_of_cu, seq_lo, seq_hi, seq_shift, seq_page, row_page, row_addr,
             row_file, row_line, row_col, row_disc, file_base, file_count, decl, low, call_line, call_col,
             call_disc) = self._lookup_arrays
            files = self._files_base if basename else self._files_rel if relative else self._files
            names = self._sub_short if short else self._sub_name
            call_files = self._sub_call_file_base if basename else self._sub_call_file_rel if relative \
                else self._sub_call_file
            start_files = self._sub_start_file_base if basename else self._sub_start_file_rel if relative \
                else self._sub_start_file
            unclosed, sectioned = self._unclosed, self._seq_sec is not None
            sites = self._call_sites.setdefault((relative, basename), {})
        out: list[list[Frame]] = []
        for vaddr in vaddrs:
            sym = -1
            if symbol_table:  # the page's entries only (unwind/index.py, page_table)
                p = (vaddr >> sym_shift) - sym_base
                if p < 0:
                    p = 0
                elif p > sym_last:
                    p = sym_last
                sym = bisect_right(sym_addr, vaddr, sym_page[p], sym_page[p + 1]) - 1
                if sym >= 0:
                    size = sym_size[sym]
                    if size and sym_addr[sym] + size <= vaddr:
                        sym = -1
                if sym >= 0 and not lines and not inlines:
                    sid = sym_name[sym]
                    name = named[sid] if sid in named else name_of(sid)
                    out.append([new(Frame, (vaddr, path, vaddr, None, name, None, None, None, False, None, False, None,
                                            None, None, None, sym_addr[sym], 0))])
                    continue
            # the location (file, line, column, discriminator) and subroutine chain DWARF gives
            file = line = column = None
            disc, chain, unit = 0, None, -1
            if dwarf:
                p = (vaddr >> ar_shift) - ar_base
                if p < 0:
                    p = 0
                elif p > ar_last:
                    p = ar_last
                i = bisect_right(ar_lo, vaddr, ar_page[p], ar_page[p + 1]) - 1
                if i >= 0 and vaddr < ar_hi[i]:
                    unit = ar_cu[i]
                    if unclosed and unit in unclosed:
                        self._warn_unclosed(unit)
            if unit >= 0:
                lo = adm_first[unit]
                j = bisect_right(adm_start, vaddr, lo, adm_end_of_cu[unit]) - 1
                if j >= lo and vaddr < adm_end[j]:
                    sub = adm_sub[j]
                    up = parent[sub]
                    if up < 0 or not inlines:  # not inlines: llvm's getLineInfoForAddress, innermost name only
                        chain = [sub]
                    else:
                        chain = [sub]
                        while up >= 0 and len(chain) < 512:
                            chain.append(up)
                            up = parent[up]
                if sectioned:
                    found = self._sequence(unit, vaddr)
                    k = -1 if found is None else found
                else:
                    k_hi = seq_end_of_cu[unit]
                    k = bisect_right(seq_hi, vaddr, seq_first_of_cu[unit], k_hi)
                    if k >= k_hi or seq_lo[k] > vaddr:
                        k = -1
                if k >= 0:  # LLVM's row search, bisect_right over (first + 1, end - 1), in the address's page
                    p = seq_page[k] + (vaddr >> seq_shift[k])
                    row = bisect_right(row_addr, vaddr, row_page[p], row_page[p + 1]) - 1
                    local = row_file[row]
                    if local < file_count[unit]:
                        sid = files[file_base[unit] + local]
                        file = strings[sid] if sid in strings else string(sid)
                    line, column, disc = row_line[row], row_col[row], row_disc[row]
            # the frames, innermost first; the outermost named from the symbol table
            if sym >= 0:
                sid = sym_name[sym]
                sym_text = named[sid] if sid in named else name_of(sid)
                sym_start: int | None = sym_addr[sym]
            if not chain:
                name, start = (sym_text, sym_start) if sym >= 0 else (None, None)
                if sym >= 0 and (file is None or file == BAD_STRING):
                    source = string(sym_file[sym])
                    if source:
                        file = source
                out.append([new(Frame, (vaddr, path, vaddr, None, name, file, line, column, False, None, False, None,
                                        None, None, None, start, disc))])
                continue
            frames: list[Frame] = []
            last = len(chain) - 1
            for depth, sub in enumerate(chain):
                if depth:  # the location is where the inner subroutine was inlined (its call site, read once)
                    inner = chain[depth - 1]
                    site = sites[inner] if inner in sites else None
                    if site is None:
                        sid = call_files[inner]
                        site = sites[inner] = (strings[sid] if sid in strings else string(sid), call_line[inner],
                                               call_col[inner], call_disc[inner])
                    file, line, column, disc = site
                sid = names[sub]
                name = named[sid] if sid in named else name_of(sid)
                sid = start_files[sub]
                start_file = strings[sid] if sid in strings else string(sid)
                start = low[sub]
                start_address = None if start == NO_ADDRESS else start
                if depth == last and sym >= 0:
                    name, start_address = sym_text, sym_start
                    if file is None or file == BAD_STRING:
                        source = string(sym_file[sym])
                        if source:
                            file = source
                frames.append(new(Frame, (vaddr, path, vaddr, None, name, file, line, column, depth < last, None,
                                          False, None, None, decl[sub], start_file, start_address, disc)))
            out.append(frames)
        return out

    def _sequence(self, unit: int, vaddr: int) -> int | None:
        """The line sequence holding `vaddr`: LLVM 14's LineTable::lookupAddress.

        Sequences are sorted by (section, high pc); the first above the address must hold it.  In a
        relocatable file the address first belongs to the first code section that contains it
        (SymbolizableObjectFile::getModuleSectionIndexForAddress), then to no section.
        """
        lo, hi = self._cu_seq_first[unit], self._cu_seq_end[unit]
        if self._seq_sec is None:
            k = bisect_right(self._seq_hi, vaddr, lo, hi)
            return k if k < hi and self._seq_lo[k] <= vaddr else None
        for section in (self._section_of(vaddr), NO_SECTION):
            first = bisect_left(self._seq_sec, section, lo, hi)
            end = bisect_right(self._seq_sec, section, first, hi)
            k = bisect_right(self._seq_hi, vaddr, first, end)
            if k < end and self._seq_lo[k] <= vaddr:
                return k
            if section == NO_SECTION:
                break
        return None

    def _section_of(self, vaddr: int) -> int:
        if self._txt is not None:
            for lo, hi, index in zip(*self._txt):
                if lo <= vaddr < hi:
                    return index
        return NO_SECTION


class Symbolizer:
    """Symbolises ELF virtual addresses of any number of files; indexes are built on first use."""

    def __init__(self, symfs: str | None = None, debug_dirs: Iterable[str] = (), demangle: bool = True,
                 inlines: bool = True, symbol_table: bool = True, naming: str = "llvm", cache_size: int = 1 << 16,
                 index_dir: str | os.PathLike[str] | None = None,
                 short_names: bool = False, relative_names: bool = False, base_names: bool = False,
                 dwp: str | None = None, fallback_debug_path: str | None = None,
                 debuginfod: DebuginfodClient | None = None, demangler: Demangler | None = None,
                 max_modules: int = 256):
        """`short_names`: functions named by DW_AT_name alone; `relative_names`: paths without the
        compilation directory (llvm-symbolizer's --functions=short and --relativenames); `dwp`: the
        DWARF package of split units (--dwp), tried before `<binary>.dwp`; `fallback_debug_path`: where
        .gnu_debuglink files are looked for in place of the debug directories (--fallback-debug-path);
        `debuginfod`: where debug files (and dwz alternate files) no local directory holds are fetched
        by build-id; `demangler`: the caller's demangler and its memos (else one of its own); at most
        `max_modules` opened modules (and failures) are held, least recently used dropped first."""
        if naming not in NAMINGS:
            raise UsageError(f"unknown naming {naming!r} (expected one of {', '.join(NAMINGS)})")
        self.debuginfod = debuginfod
        self.symfs = symfs
        self.fallback_debug_path = fallback_debug_path
        self.dwp = dwp
        self.debug_dirs = tuple(debug_dirs) or DEFAULT_DEBUG_DIRS
        self.demangle = demangle
        self.inlines = inlines
        self.symbol_table = symbol_table
        self.naming = naming
        self.index_dir = index_dir
        self.short_names = short_names
        self.relative_names = relative_names
        self.base_names = base_names
        self.demangler = demangler if demangler is not None else Demangler()
        self._modules: LRU[str, ModuleSymbols | UnwindError | OSError] = LRU(max_modules)
        self._sources: LRU[str, IndexSources] = LRU(max_modules)  # what each index was built from
        self._frame_readers: LRU[str, FrameReader] = LRU(max_modules)
        self._module_misses = self._module_calls = 0
        self._hot: LRU[tuple[str, int, bool, bool], list[Frame]] | None = None  # hot addresses; none when 0
        self._hot_misses = self._hot_calls = 0
        if cache_size:
            self._hot = LRU(cache_size)

    def module(self, path: str) -> ModuleSymbols:
        """The module for `path`, opening (and if needed indexing) it once; raises its error every time."""
        self._module_calls += 1
        found = self._modules.get(path)
        if found is None:
            self._module_misses += 1
            try:
                found = self._open(path)
            except (UnwindError, OSError) as exc:
                found = exc
            self._modules[path] = found
        if isinstance(found, Exception):
            raise found
        return found

    def _open(self, path: str) -> ModuleSymbols:
        real = path
        if self.symfs:
            candidate = os.path.join(self.symfs, path.lstrip("/"))
            if os.path.isfile(candidate):
                real = candidate
        binary = ElfFile(real)
        if self.naming == "llvm":
            check_string_table(binary)  # llvm-symbolizer refuses such a file whole: so do we
        debug_path = find_debug_file(binary, self.debug_dirs, self.fallback_debug_path)
        if (debug_path is None and self.debuginfod is not None and binary.build_id
                and binary.section(".debug_info") is None):
            debug_path = self.debuginfod.debuginfo(binary.build_id)
        debug = ElfFile(debug_path) if debug_path else None
        sources = IndexSources(binary, debug, self.dwp)
        dwarf = sources.dwarf
        alt_path = find_alt_file(dwarf, self.debug_dirs, self.debuginfod) if dwarf is not None else None
        if alt_path is not None:
            sources = sources._replace(alt=ElfFile(alt_path))
        self._sources[path] = sources
        module = ModuleSymbols(load_index(sources, self.index_dir), self.naming, path, self.demangler)
        if self.naming == "llvm":
            refusal = module.index.array("bad_name")  # a symbol name past its string table: refused whole
            if len(refusal):
                raise StringTableError(module.string(refusal[0]) or "", real)
        return module

    def frame_locals(self, path: str, vaddr: int) -> list[FrameLocal]:
        """llvm-symbolizer's FRAME answer: the variables of the innermost function at `vaddr`, in DIE order."""
        from .frame_locals import FrameReader

        module = self.module(path)
        reader = self._frame_readers.get(path)
        if reader is None:
            sources = self._sources.get(path)
            if sources is None:  # the module's entry outlived its sources' in the bounded caches: open it again
                self._open(path)
                sources = self._sources[path]
            reader = self._frame_readers[path] = FrameReader(sources)
        return reader.locals(module, vaddr)

    def symbolize(self, path: str, vaddrs: Iterable[int], inlines: bool | None = None,
                  lines: bool = True) -> list[list[Frame]]:
        """One list of frames per address (innermost first); unknown parts are None.

        `lines=False` is for callers that print no file or line (perf-script, folded): see ModuleSymbols.lookup.
        """
        inlines = self.inlines if inlines is None else inlines
        module = self.module(path)
        hot = self._hot
        short, relative, base = self.short_names, self.relative_names, self.base_names
        if hot is None:
            return module.lookup_many(vaddrs, inlines, self.symbol_table, self.demangle, lines, short, relative, base)
        out = []
        for vaddr in vaddrs:
            key = (path, vaddr, inlines, lines)
            frames = hot.get(key)
            if frames is None:
                self._hot_misses += 1
                frames = hot[key] = module.lookup(vaddr, inlines, self.symbol_table, self.demangle, lines, short,
                                                  relative, base)
            out.append(frames)
        self._hot_calls += len(out)
        return out

    def cache_stats(self) -> dict[str, CacheStats]:
        """`modules` (opened modules and failures, by path), `addresses` (the hot-address LRU) and the demangler's."""
        hot = self._hot
        out = {"modules": CacheStats(self._module_calls - self._module_misses, self._module_misses,
                                     len(self._modules), int(self._modules.maxsize)),
               "addresses": CacheStats(self._hot_calls - self._hot_misses, self._hot_misses,
                                       len(hot) if hot is not None else 0, int(hot.maxsize) if hot is not None else 0)}
        out.update(self.demangler.stats())
        return out
