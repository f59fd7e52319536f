"""Is a symbol index consistent?  Every count, offset and string id bounds-checked before any lookup trusts it.

The checksum proves the file is what some writer wrote, not that the writer was right: a bug,
a partial write by an older version or a file planted in a shared cache directory can carry a
valid CRC over arrays that point outside each other.  `check_symbol_index` runs whenever the
checksum is (once per version of the file, see `unwind.index.open_index`) and raises
CorruptIndexError, which makes `load_index` rebuild; afterwards every index the symbolizer and
the kernel-symbol table read is in bounds, so a lookup is a handful of unchecked bisects.

The rules mirror what `unwind/symbolizer.py` and `unwind/kernel.py` read (names as in
`unwind.index.build_arrays`).
"""

from __future__ import annotations

from collections.abc import Sequence

from formats.symindex import CorruptIndexError, IndexFile

NO_STRING = 0xFFFFFFFF
_SYMBOLS = ("addr", "size", "name", "file")
_DWARF_GROUPS = (
    ("cu_off", "cu_file_base", "cu_file_count", "cu_seq_first", "cu_seq_end", "cu_adm_first", "cu_adm_end"),
    ("seq_lo", "seq_hi", "seq_first", "seq_end"),
    ("row_addr", "row_file", "row_line", "row_col", "row_disc"),
    ("sub_name", "sub_parent", "sub_call_file", "sub_call_line", "sub_call_col", "sub_call_disc", "sub_decl_line",
     "sub_low", "sub_start_file"),
    ("adm_start", "adm_end", "adm_sub"),
    ("ar_lo", "ar_hi", "ar_cu"),
)
_STRING_IDS = ("files", "sub_name", "sub_call_file", "sub_start_file")


class _Checker:
    def __init__(self, index: IndexFile):
        self.index, self.path = index, index.path
        self.names = set(index.names())

    def fail(self, message: str) -> None:
        raise CorruptIndexError(f"inconsistent index: {message}", self.path)

    def array(self, name: str) -> memoryview:
        if name not in self.names:
            self.fail(f"no array {name}")
        return self.index.array(name)

    def same_length(self, names: Sequence[str]) -> int:
        lengths = {name: len(self.array(name)) for name in names}
        if len(set(lengths.values())) > 1:
            self.fail(f"arrays of one table differ in length: {lengths}")
        return next(iter(lengths.values()))

    def below(self, name: str, limit: int, allow: int | None = None) -> None:
        """Every value of `name` is < limit (or equals `allow`, a "none" sentinel)."""
        values = self.array(name)
        if not len(values) or max(values) < limit:
            return
        if allow is None or any(v >= limit and v != allow for v in values):
            self.fail(f"{name} holds a value >= {limit}")

    def ranges(self, first: str, end: str, limit: int, nonempty: bool = False) -> None:
        """first[i] <= end[i] <= limit (first[i] < end[i] when nonempty), for every i."""
        firsts, ends = self.array(first), self.array(end)
        if any(f > e or e > limit or (nonempty and f == e) for f, e in zip(firsts, ends)):
            self.fail(f"{first}/{end} run outside [0, {limit}]")

    def sorted(self, name: str) -> None:
        values = self.array(name)
        if any(a > b for a, b in zip(values, values[1:])):
            self.fail(f"{name} is not sorted")

    def pages(self, name: str, count: int) -> None:
        """A whole-array page table (`{name}_page`, `{name}_page_at` = shift, base, last page): the lookup
        clamps its page into [0, last] and bisects between entries p and p + 1, so there are last + 2
        entries, each in [0, count]."""
        entries, at = self.array(f"{name}_page"), self.array(f"{name}_page_at")
        if len(at) != 3 or at[0] > 64 or len(entries) != at[2] + 2 or max(entries) > count:
            self.fail(f"{name}_page does not fit {name}")

    def strings(self) -> int:
        """Check the string table; the number of strings it holds."""
        offsets, blob = self.array("str_off"), self.array("str_blob")
        if not len(offsets) or offsets[0] != 0 or offsets[-1] > len(blob):
            self.fail("string offsets run outside the string blob")
        self.sorted("str_off")
        return len(offsets) - 1


def check_symbol_index(index: IndexFile) -> None:
    """Raise CorruptIndexError unless every array the symbolizer reads is consistent with the others."""
    c = _Checker(index)
    count = c.strings()
    for prefix in ("sym", "psym"):
        c.pages(prefix, c.same_length([f"{prefix}_{part}" for part in _SYMBOLS]))
        c.sorted(f"{prefix}_addr")
        c.below(f"{prefix}_name", count, NO_STRING)
        c.below(f"{prefix}_file", count, NO_STRING)
    if "txt_lo" in c.names:
        c.same_length(("txt_lo", "txt_hi", "txt_sec"))
    if "ar_lo" not in c.names:
        return
    units, sequences, rows, subs, _, _ = (c.same_length(group) for group in _DWARF_GROUPS)
    if "seq_sec" in c.names and len(c.array("seq_sec")) != sequences:
        c.fail("seq_sec and seq_lo differ in length")
    for name in _STRING_IDS:
        c.below(name, count, NO_STRING)
    files, bases, counts = len(c.array("files")), c.array("cu_file_base"), c.array("cu_file_count")
    if any(b + n > files for b, n in zip(bases, counts)):
        c.fail("a unit's file table runs past the file array")
    c.ranges("cu_seq_first", "cu_seq_end", sequences)
    c.ranges("seq_first", "seq_end", rows, nonempty=True)
    c.ranges("cu_adm_first", "cu_adm_end", len(c.array("adm_start")))
    c.below("adm_sub", subs)
    parents = c.array("sub_parent")
    if len(parents) and (min(parents) < -1 or max(parents) >= subs):
        c.fail("a subroutine's parent is outside the subroutine table")
    c.below("ar_cu", units)
    c.sorted("ar_lo")
    c.pages("ar", len(c.array("ar_lo")))
    _check_row_pages(c, rows)
    if "bad_cu" in c.names:
        c.same_length(("bad_cu", "bad_end", "bad_at"))
        c.below("bad_cu", units)
    if "split_file" in c.names:
        c.same_length(("split_file", "split_size", "split_mtime"))
        c.below("split_file", count)


def _check_row_pages(c: _Checker, rows: int) -> None:
    """The per-sequence page tables over the line rows: a lookup of v in [seq_lo[k], seq_hi[k]) reads entries
    p and p + 1 for p = seq_page[k] + (v >> seq_shift[k]) and bisects the rows between them, so those are in
    the table and every entry is in [1, rows] (the row found, one before the bisect's answer, is a row).
    The lookup picks k by bisecting seq_hi in its unit's sequences (by section first in a relocatable file):
    they must be sorted so, and every sequence non-empty, for v to be in the sequence it picked."""
    shifts, starts, entries = c.array("seq_shift"), c.array("seq_page"), c.array("row_page")
    lows, highs = c.array("seq_lo"), c.array("seq_hi")
    if len(shifts) != len(lows) or len(starts) != len(lows):
        c.fail("seq_shift/seq_page and seq_lo differ in length")
    if len(entries) and (min(entries) < 1 or max(entries) > rows):
        c.fail("row_page holds a value outside the rows")
    for lo, hi, shift, start in zip(lows, highs, shifts, starts):
        if lo >= hi or shift > 64 or start + (lo >> shift) < 0 or start + ((hi - 1) >> shift) + 1 >= len(entries):
            c.fail("a sequence's page table runs outside row_page")
    sections = c.array("seq_sec") if "seq_sec" in c.names else None
    for first, end in zip(c.array("cu_seq_first"), c.array("cu_seq_end")):
        keys = [(sections[k] if sections is not None else 0, highs[k]) for k in range(first, end)]
        if any(a > b for a, b in zip(keys, keys[1:])):
            c.fail("a unit's sequences are not sorted by high address")


def check_kernel_index(index: IndexFile) -> None:
    """The kernel-symbol table's arrays (unwind/kernel.py): equal lengths, string ids in the string table."""
    c = _Checker(index)
    count = c.strings()
    symbols = c.same_length(("starts", "ends", "names", "modules"))
    if len(c.array("types")) != symbols or len(c.array("restricted")) != 1:
        c.fail("kernel symbol types or flags do not match the symbols")
    c.sorted("starts")
    c.below("names", count)  # every symbol has a name
    c.below("modules", count, NO_STRING)
