"""DWARF 2-5 .debug_line: program headers as typed records, the row matrix as flat arrays.

Semantics follow LLVM 14's DWARFDebugLine (what llvm-symbolizer and llvm-dwarfdump
print), including its quirks: op_index is ignored, file and column are 16-bit, a
DW_LNE opcode always resumes at the end its length claims.
"""

from __future__ import annotations

import re
import struct
from array import array
from bisect import bisect_right
from dataclasses import dataclass, field, replace
from typing import Callable, Iterator, TypeAlias

from ..errors import FormatError, TruncatedError, parsing
from ..leb128 import read_sleb, read_uleb

# Row flag bits in LineRows.flags.
IS_STMT, END_SEQUENCE, BASIC_BLOCK, PROLOGUE_END, EPILOGUE_BEGIN = 1, 2, 4, 8, 16

# DW_LNCT content types and the DW_FORM codes a DWARF 5 header may use (private on purpose).
_LNCT_PATH, _LNCT_DIRECTORY_INDEX = 1, 2
_LNCT_LLVM_SOURCE = 0x2001  # the file's text, embedded by clang -gembed-source
NO_OFFSET = 0xFFFFFFFFFFFFFFFF  # "no DW_LNE_set_address in this sequence"
# (opcode_base, line_base, line_range, min_inst) -> (address advance, line advance) of every special opcode
SpecialTables = dict[tuple[int, int, int, int], tuple[tuple[int, ...], tuple[int, ...]]]

_FORM_FIXED = {0x0B: 1, 0x05: 2, 0x06: 4, 0x07: 8, 0x1E: 16, 0x0C: 1, 0x25: 1, 0x26: 2, 0x27: 3, 0x28: 4}
_FORM_STRING, _FORM_STRP, _FORM_LINE_STRP, _FORM_STRX = 0x08, 0x0E, 0x1F, 0x1A
_FORM_UDATA, _FORM_SDATA, _FORM_SEC_OFFSET = 0x0F, 0x0D, 0x17
_FORM_STRP_SUP, _FORM_GNU_STRP_ALT, _FORM_GNU_STR_INDEX = 0x1D, 0x1F21, 0x1F02
_FORM_BLOCK = {0x09: 0, 0x0A: 1, 0x03: 2, 0x04: 4}

_WINDOWS_ABSOLUTE = re.compile(r"[A-Za-z]:[\\/]|[\\/]{2}[^\\/]+[\\/]")
_U16, _U32, _U64 = struct.Struct("<H"), struct.Struct("<I"), struct.Struct("<Q")
_HEADER_V2 = struct.Struct("<BBbBB")  # min_inst_length, default_is_stmt, line_base, line_range, opcode_base
_HEADER_V4 = struct.Struct("<BBBbBB")  # ... with max_ops_per_inst after min_inst_length
Section: TypeAlias = "bytes | memoryview"
_Strings: TypeAlias = "tuple[bytes | None, bytes | None]"  # .debug_str, .debug_line_str


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One file_names entry; dir_index indexes include_directories (DWARF 5) or is 1-based (DWARF <= 4)."""

    name: str
    dir_index: int
    source: str | None = None  # DW_LNCT_LLVM_source: the file's text embedded in the line table


@dataclass(frozen=True, slots=True)
class LineProgramHeader:
    """A line program's prologue; offsets are .debug_line section offsets."""

    offset: int
    unit_length: int
    version: int
    address_size: int
    min_inst_length: int
    max_ops_per_inst: int
    default_is_stmt: bool
    line_base: int
    line_range: int
    opcode_base: int
    include_directories: tuple[str, ...]
    file_names: tuple[FileEntry, ...]
    program_start: int
    program_end: int

    def file_path(self, index: int, comp_dir: str | None, relative: bool = False, base: bool = False) -> str | None:
        """The path of file `index` as LLVM 14's getFileNameByIndex builds it: AbsoluteFilePath, with
        `relative` RelativeFilePath (no compilation directory, nor DWARF 5's directory 0), with `base`
        BaseNameOnly (the entry's last component, but an absolute entry name whole, as LLVM keeps it)."""
        files = self.file_names
        if self.version >= 5:
            if not 0 <= index < len(files):
                return None
            entry = files[index]
        else:
            if not 0 < index <= len(files):
                return None
            entry = files[index - 1]
        if _is_absolute(entry.name):
            return entry.name
        if base:
            return _filename(entry.name)
        dirs = self.include_directories
        include_dir = ""
        if self.version >= 5:
            if (entry.dir_index or not relative) and 0 <= entry.dir_index < len(dirs):  # DW_FORM_sdata can be negative
                include_dir = dirs[entry.dir_index]
        elif 0 < entry.dir_index <= len(dirs):
            include_dir = dirs[entry.dir_index - 1]
        parts = [include_dir, entry.name]
        if comp_dir and not relative and not _is_absolute(include_dir):
            parts.insert(0, comp_dir)
        return _path_append(parts)


def _filename(path: str) -> str:
    """llvm::sys::path::filename (POSIX style): the last component; "." after a trailing separator."""
    if path.endswith("/"):
        return "."
    return path.rsplit("/", 1)[-1]


def _is_absolute(name: str) -> bool:
    """LLVM's isPathAbsoluteOnWindowsOrPosix: "/x", "C:\\x" or "C:/x", "\\\\server\\x"."""
    return name.startswith("/") or _WINDOWS_ABSOLUTE.match(name) is not None


def _path_append(parts: list[str]) -> str:
    """llvm::sys::path::append (POSIX style): one '/' between components, empty ones still add it."""
    out = ""
    for part in parts:
        if out.endswith("/"):
            out += part.lstrip("/")
        elif part.startswith("/") or not out:
            out += part
        else:
            out += "/" + part
    return out


@dataclass(frozen=True, slots=True)
class LineRows:
    """The row matrix as columns; `flags` holds IS_STMT | END_SEQUENCE | BASIC_BLOCK | PROLOGUE_END | EPILOGUE_BEGIN."""

    address: array[int]
    file: array[int]
    line: array[int]
    column: array[int]
    discriminator: array[int]
    flags: array[int]
    end_rows: array[int]  # index of every end_sequence row, in order
    # per end_sequence row: section offset of the sequence's last DW_LNE_set_address operand (NO_OFFSET if
    # none), so a relocatable file can tell which section a sequence's relocated addresses belong to
    set_address_at: array[int] = field(default_factory=lambda: array("Q"))

    def __len__(self) -> int:
        return len(self.address)


@dataclass(slots=True)
class LineProgram:
    """A decoded line program: its header and rows, with LLVM 14's address lookup."""

    header: LineProgramHeader
    rows: LineRows
    _sequences: list[tuple[int, int, int, int]] | None = field(default=None, repr=False, compare=False)
    _highs: list[int] = field(default_factory=list, repr=False, compare=False)

    def sequences(self) -> list[tuple[int, int, int, int]]:
        """Valid sequences (low < high) as (low, high, first_row, end_row exclusive), sorted by high (stable)."""
        if self._sequences is None:
            addr = self.rows.address
            seqs: list[tuple[int, int, int, int]] = []
            first = 0
            for end in self.rows.end_rows:
                low, high = addr[first], addr[end]
                if low < high:
                    seqs.append((low, high, first, end + 1))
                first = end + 1
            seqs.sort(key=lambda s: s[1])
            self._sequences = seqs
            self._highs = [s[1] for s in seqs]
        return self._sequences

    def lookup(self, address: int) -> int | None:
        """Index of the row describing `address` (LLVM 14 lookupAddress), or None."""
        seqs = self.sequences()
        i = bisect_right(self._highs, address)
        if i == len(seqs):
            return None
        low, high, first, end = seqs[i]
        if not low <= address < high:
            return None
        return bisect_right(self.rows.address, address, first + 1, end - 1) - 1


def iter_line_programs(debug_line: bytes | memoryview, *, debug_str: Section | None = None,
                       debug_line_str: Section | None = None,
                       path: str | None = None, address_size: int = 8,
                       on_error: Callable[[FormatError], None] | None = None) -> Iterator[LineProgram]:
    """Every line program of a .debug_line section, in section order.

    A corrupt program raises, unless `on_error` is given: then it receives the error and decoding
    resumes at the next unit when the bad unit's length is still usable.
    """
    data = bytes(debug_line)
    debug_str = None if debug_str is None else bytes(debug_str)
    debug_line_str = None if debug_line_str is None else bytes(debug_line_str)
    offset = 0
    tables: SpecialTables = {}  # this section's special-opcode tables, shared by its units
    while offset < len(data):
        try:
            program = parse_line_program(data, offset, debug_str=debug_str, debug_line_str=debug_line_str,
                                         path=path, address_size=address_size, special_tables=tables)
        except FormatError as exc:
            if on_error is None:
                raise
            on_error(exc)
            offset = _next_unit(data, offset)
            continue
        yield program
        offset = program.header.program_end


def _next_unit(data: bytes, offset: int) -> int:
    """Offset after the unit at `offset` by its length field alone (the section end when unusable)."""
    if offset + 4 > len(data):
        return len(data)
    length: int = _U32.unpack_from(data, offset)[0]
    if length == 0xFFFFFFFF and offset + 12 <= len(data):
        length64: int = _U64.unpack_from(data, offset + 4)[0]
        return min(offset + 12 + length64, len(data))
    return len(data) if length >= 0xFFFFFFF0 else min(offset + 4 + length, len(data))


def parse_line_program(debug_line: bytes | memoryview, offset: int, *, debug_str: Section | None = None,
                       debug_line_str: Section | None = None, path: str | None = None,
                       address_size: int = 8, special_tables: SpecialTables | None = None) -> LineProgram:
    """Decode the line program at section offset `offset` (address_size applies to DWARF <= 4).

    Pass the sections as bytes: a memoryview of .debug_str/.debug_line_str is copied on every call.
    `special_tables` is the caller's memo of special-opcode tables for a run over many units.
    """
    with parsing(path, offset, "line program"):
        data, base, strings = _prepare(debug_line, offset, debug_str, debug_line_str)
        header, std_lengths = _parse_header(data, offset, base, address_size, strings, path)
        rows, defined, pos = _run_program(data, header, std_lengths, base,
                                          {} if special_tables is None else special_tables)
        if pos > header.program_end - base:
            raise TruncatedError("line program runs past its unit end", path, header.program_end)
        if defined:
            header = replace(header, file_names=header.file_names + tuple(defined))
        return LineProgram(header, rows)


def parse_line_header(debug_line: bytes | memoryview, offset: int, *, debug_str: Section | None = None,
                      debug_line_str: Section | None = None, path: str | None = None,
                      address_size: int = 8) -> LineProgramHeader:
    """Only the header of the program at `offset` (its file table lacks DW_LNE_define_file entries)."""
    with parsing(path, offset, "line program header"):
        data, base, strings = _prepare(debug_line, offset, debug_str, debug_line_str)
        return _parse_header(data, offset, base, address_size, strings, path)[0]


def _prepare(debug_line: Section, offset: int, debug_str: Section | None,
             debug_line_str: Section | None) -> tuple[bytes, int, _Strings]:
    """The unit's bytes (the whole section when it is already bytes), their base offset, the string tables."""
    strings = (_as_bytes(debug_str), _as_bytes(debug_line_str))
    if isinstance(debug_line, bytes):
        return debug_line, 0, strings
    length = _U32.unpack_from(debug_line, offset)[0]  # copy only this unit out of a memoryview/bytearray
    total = length + 4 if length != 0xFFFFFFFF else _U64.unpack_from(debug_line, offset + 4)[0] + 12
    return bytes(debug_line[offset:offset + total]), offset, strings


def _as_bytes(table: Section | None) -> bytes | None:
    return None if table is None else table if isinstance(table, bytes) else bytes(table)


def _parse_header(data: bytes, offset: int, base: int, address_size: int, strings: _Strings,
                  path: str | None) -> tuple[LineProgramHeader, tuple[int, ...]]:
    """The prologue at section offset `offset` (data[0] is at `base`), and its standard_opcode_lengths."""
    pos = offset - base
    unit_length = _U32.unpack_from(data, pos)[0]
    pos += 4
    offset_size = 4
    if unit_length == 0xFFFFFFFF:
        unit_length = _U64.unpack_from(data, pos)[0]
        pos += 8
        offset_size = 8
    elif unit_length >= 0xFFFFFFF0:
        raise FormatError(f"reserved unit length {unit_length:#x}", path, base + pos - 4)
    end = pos + unit_length
    if end > len(data):
        raise TruncatedError(f"line program length {unit_length:#x} runs past the section end", path, base + pos)
    version = _U16.unpack_from(data, pos)[0]
    pos += 2
    if not 2 <= version <= 5:
        raise FormatError(f"unsupported line table version {version}", path, base + pos - 2)
    if version >= 5:
        if pos + 2 > end:
            raise TruncatedError("line program header runs past its unit end", path, base + pos)
        address_size, _seg_sel = data[pos], data[pos + 1]
        pos += 2
    header_length = (_U32 if offset_size == 4 else _U64).unpack_from(data, pos)[0]
    pos += offset_size
    start = pos + header_length
    if start > end:
        raise TruncatedError("line program header runs past its unit end", path, base + pos)
    if version >= 4:
        min_inst, max_ops, default_is_stmt, line_base, line_range, opcode_base = _HEADER_V4.unpack_from(data, pos)
        pos += 6
    else:
        min_inst, default_is_stmt, line_base, line_range, opcode_base = _HEADER_V2.unpack_from(data, pos)
        max_ops = 0  # LLVM leaves the field 0 before DWARF 4
        pos += 5
    std_lengths = tuple(data[pos:pos + max(opcode_base - 1, 0)])
    pos += max(opcode_base - 1, 0)
    if pos > end:
        raise TruncatedError("standard_opcode_lengths run past the unit end", path, base + pos)
    if version >= 5:
        dir_entries, pos = _read_v5_entries(data, pos, end, offset_size, strings)
        dirs = tuple(name for name, _, _ in dir_entries)
        file_entries, pos = _read_v5_entries(data, pos, end, offset_size, strings)
        files = tuple(FileEntry(name, index, source) for name, index, source in file_entries)
    else:
        dir_list: list[str] = []
        while True:
            name, pos = _cstring(data, pos, end)
            if not name:
                break
            dir_list.append(name)
        dirs = tuple(dir_list)
        file_list: list[FileEntry] = []
        while True:
            name, pos = _cstring(data, pos, end)
            if not name:
                break
            dir_index, pos = read_uleb(data, pos)
            _mtime, pos = read_uleb(data, pos)
            _size, pos = read_uleb(data, pos)
            file_list.append(FileEntry(name, dir_index))
        files = tuple(file_list)
    if pos > end:
        raise TruncatedError("line program header runs past its unit end", path, base + end)
    header = LineProgramHeader(
        offset=offset, unit_length=unit_length, version=version, address_size=address_size,
        min_inst_length=min_inst, max_ops_per_inst=max_ops, default_is_stmt=bool(default_is_stmt),
        line_base=line_base, line_range=line_range, opcode_base=opcode_base, include_directories=dirs,
        file_names=files, program_start=start + base, program_end=end + base)
    return header, std_lengths


def _special_tables(opcode_base: int, line_base: int, line_range: int,
                    min_inst: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Address and line advance of every special opcode (LLVM: both 0 when line_range is 0)."""
    addr_adv, line_adv = [0] * 256, [0] * 256
    if line_range:
        for op in range(opcode_base, 256):
            adjusted = op - opcode_base
            addr_adv[op] = adjusted // line_range * min_inst
            line_adv[op] = line_base + adjusted % line_range
    return tuple(addr_adv), tuple(line_adv)


def _run_program(data: bytes, header: LineProgramHeader, std_lengths: tuple[int, ...], base: int,
                 special_tables: SpecialTables) -> tuple[LineRows, list[FileEntry], int]:
    """Run the line-number state machine over the program; every register is a local, rows go to lists."""
    pos, end = header.program_start - base, header.program_end - base
    size = len(data)
    opcode_base = header.opcode_base
    special_base = opcode_base or 1  # opcode 0 is always DW_LNS_extended
    min_inst, line_range = header.min_inst_length, header.line_range
    default_flags = IS_STMT if header.default_is_stmt else 0
    params = (opcode_base, header.line_base, line_range, min_inst)
    tables = special_tables.get(params)
    if tables is None:
        tables = special_tables[params] = _special_tables(*params)
    addr_adv, line_adv = tables
    const_add = ((255 - opcode_base) & 0xFF) // line_range * min_inst if line_range else 0
    addrs: list[int] = []
    files: list[int] = []
    lines: list[int] = []
    cols: list[int] = []
    discs: list[int] = []
    flgs: list[int] = []
    a_app, f_app, l_app = addrs.append, files.append, lines.append
    c_app, d_app, g_app = cols.append, discs.append, flgs.append
    ends, defined, set_at = [], [], []
    address, file, line, column, disc, flags = 0, 1, 1, 0, 0, default_flags
    last_set = NO_OFFSET
    while pos < end:
        op = data[pos]
        pos += 1
        if op >= special_base:
            address += addr_adv[op]
            line += line_adv[op]
            a_app(address), f_app(file), l_app(line), c_app(column), d_app(disc), g_app(flags)
            disc = 0
            flags &= IS_STMT
        elif op == 5:  # DW_LNS_set_column
            if pos >= size:
                raise TruncatedError("DW_LNS_set_column operand runs past the end", None, pos + base)
            column = data[pos]
            if column < 0x80:
                pos += 1
            else:
                column, pos = read_uleb(data, pos)
                column &= 0xFFFF
        elif op == 1:  # DW_LNS_copy
            a_app(address), f_app(file), l_app(line), c_app(column), d_app(disc), g_app(flags)
            disc = 0
            flags &= IS_STMT
        elif op == 3:  # DW_LNS_advance_line
            if pos >= size:
                raise TruncatedError("DW_LNS_advance_line operand runs past the end", None, pos + base)
            delta = data[pos]
            if delta < 0x40:
                line += delta
                pos += 1
            elif delta < 0x80:
                line += delta - 0x80
                pos += 1
            else:
                delta, pos = read_sleb(data, pos)
                line += delta
        elif op == 6:  # DW_LNS_negate_stmt
            flags ^= IS_STMT
        elif op == 2:  # DW_LNS_advance_pc
            delta, pos = read_uleb(data, pos)
            address += delta * min_inst
        elif op == 8:  # DW_LNS_const_add_pc
            address += const_add
        elif op == 4:  # DW_LNS_set_file
            file, pos = read_uleb(data, pos)
            file &= 0xFFFF
        elif op == 0:  # DW_LNS_extended: length, sub-opcode, operands; resume where length says
            length, pos = read_uleb(data, pos)
            if not length:  # LLVM: "badly formed extended line op", nothing more is read
                continue
            ext_end = pos + length
            if pos >= size:
                raise TruncatedError("extended line opcode runs past the end", None, pos + base)
            sub = data[pos]
            pos += 1
            if sub == 1:  # DW_LNE_end_sequence
                a_app(address), f_app(file), l_app(line), c_app(column), d_app(disc)
                g_app(flags | END_SEQUENCE)
                ends.append(len(addrs) - 1)
                set_at.append(last_set)
                address, file, line, column, disc, flags = 0, 1, 1, 0, 0, default_flags
                last_set = NO_OFFSET
            elif sub == 2:  # DW_LNE_set_address, operand size is length - 1
                if length - 1 in (1, 2, 4, 8):
                    address = int.from_bytes(data[pos:pos + length - 1], "little")
                    last_set = base + pos
                    if pos + length - 1 > size:
                        raise TruncatedError("DW_LNE_set_address operand runs past the end", None, pos + base)
            elif sub == 4:  # DW_LNE_set_discriminator
                disc, pos = read_uleb(data, pos)
                disc &= 0xFFFFFFFF
            elif sub == 3:  # DW_LNE_define_file (DWARF <= 4)
                name, pos = _cstring(data, pos, end)
                dir_index, pos = read_uleb(data, pos)
                defined.append(FileEntry(name, dir_index))
            pos = ext_end
        elif op == 7:  # DW_LNS_set_basic_block
            flags |= BASIC_BLOCK
        elif op == 9:  # DW_LNS_fixed_advance_pc
            if pos + 2 > size:
                raise TruncatedError("DW_LNS_fixed_advance_pc operand runs past the end", None, pos + base)
            address += data[pos] | data[pos + 1] << 8
            pos += 2
        elif op == 10:  # DW_LNS_set_prologue_end
            flags |= PROLOGUE_END
        elif op == 11:  # DW_LNS_set_epilogue_begin
            flags |= EPILOGUE_BEGIN
        else:  # DW_LNS_set_isa or an unknown standard opcode: skip its ULEB operands
            for _ in range(std_lengths[op - 1] if op != 12 else 1):
                _, pos = read_uleb(data, pos)
    rows = LineRows(_column("Q", addrs), _column("I", files), _column("I", lines), _column("I", cols),
                    _column("I", discs), array("B", flgs), array("I", ends), array("Q", set_at))
    return rows, defined, pos


def _column(code: str, values: list[int]) -> array[int]:
    """A list as a typed array, wrapping out-of-range values modulo the width as LLVM's integers do."""
    try:
        return array(code, values)
    except OverflowError:
        mask = (1 << (8 * array(code).itemsize)) - 1
        return array(code, [value & mask for value in values])


def _read_v5_entries(data: bytes, pos: int, end: int, offset_size: int,
                     strings: _Strings) -> tuple[list[tuple[str, int, str | None]], int]:
    """A DWARF 5 directory or file-name table: format descriptors, then (path, directory_index, embedded
    source or None) per entry."""
    if pos >= end:
        raise TruncatedError("entry format count past the header's end")
    count = data[pos]
    pos += 1
    formats = []
    for _ in range(count):
        kind, pos = read_uleb(data, pos)
        form, pos = read_uleb(data, pos)
        formats.append((kind, form))
    entries, pos = read_uleb(data, pos)
    if entries > end - pos:  # every entry of a non-empty format takes at least one byte
        raise FormatError(f"{entries} entries cannot fit in the header")
    out = []
    for _ in range(entries):
        name, dir_index, source = "", 0, None
        for kind, form in formats:
            value, pos = _read_form(data, pos, form, offset_size, strings)
            if kind == _LNCT_PATH and isinstance(value, str):
                name = value
            elif kind == _LNCT_DIRECTORY_INDEX and isinstance(value, int):
                dir_index = value
            elif kind == _LNCT_LLVM_SOURCE and isinstance(value, str):
                source = value
        out.append((name, dir_index, source))
        if pos > end:
            raise TruncatedError("entry table runs past the unit end")
    return out, pos


def _read_form(data: bytes, pos: int, form: int, offset_size: int,
               strings: _Strings) -> tuple[str | int | bytes, int]:
    """One attribute value of a DWARF 5 entry; strings resolve through .debug_str/.debug_line_str."""
    size = _FORM_FIXED.get(form)
    if size is not None:
        return int.from_bytes(data[pos:pos + size], "little"), pos + size
    if form == _FORM_STRING:
        return _cstring(data, pos, len(data))
    if form in (_FORM_LINE_STRP, _FORM_STRP, _FORM_STRP_SUP, _FORM_GNU_STRP_ALT, _FORM_SEC_OFFSET):
        value = int.from_bytes(data[pos:pos + offset_size], "little")
        pos += offset_size
        table = strings[1] if form == _FORM_LINE_STRP else strings[0] if form == _FORM_STRP else None
        if table is None:
            return "", pos  # unresolvable here (no section, supplementary file)
        return _cstring(table, value, len(table))[0], pos
    if form in (_FORM_UDATA, _FORM_STRX, _FORM_GNU_STR_INDEX):
        return read_uleb(data, pos)
    if form == _FORM_SDATA:
        return read_sleb(data, pos)
    if form in _FORM_BLOCK:
        width = _FORM_BLOCK[form]
        if width:
            length = int.from_bytes(data[pos:pos + width], "little")
            pos += width
        else:
            length, pos = read_uleb(data, pos)
        return bytes(data[pos:pos + length]), pos + length
    raise FormatError(f"unsupported form {form:#x} in line table header")


def _cstring(data: bytes, pos: int, end: int) -> tuple[str, int]:
    """A NUL-terminated string inside data[pos:end] (undecodable bytes kept as surrogates), and the next position."""
    stop = data.find(b"\0", pos, end)
    if stop < 0:
        raise TruncatedError(f"string at {pos:#x} has no NUL terminator")
    return data[pos:stop].decode("utf-8", "surrogateescape"), stop + 1
