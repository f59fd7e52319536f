"""The persisted forms of compiled CFI tables and frame-0 analyses (marshal data), checked on load.

A cache file may be stale, truncated, written by an older version or planted in a shared cache
directory: whatever it holds, loading either returns data every lookup can index safely or raises
`CorruptCacheError` (the caller then rebuilds). Nothing read from disk is trusted unchecked.
"""

from __future__ import annotations

import marshal
import os
from array import array

from formats.errors import FormatError

from .rules import CfaKind, FrameKind, RegKind

# (typecode, name) of each array of a compiled table, in CompiledCfi's constructor order.
ARRAYS = (("starts", "Q"), ("ends", "Q"), ("row_slices", "I"), ("row_locs", "Q"), ("row_rules", "I"))
RuleKey = tuple[tuple[int, int, int, bytes], tuple[tuple[int, int, int, int, bytes], ...], int, int]
_CFA_KINDS = frozenset(int(k) for k in CfaKind)
_REG_KINDS = frozenset(int(k) for k in RegKind)
_FRAME_KINDS = frozenset(int(k) for k in FrameKind)


class CorruptCacheError(FormatError):
    """A cache file that cannot be used (not marshal data, wrong version, inconsistent contents)."""


def read_marshal(path: str) -> object:
    """The marshal value stored in `path` (OSError passes through).

    marshal signals bad data with EOFError, ValueError or TypeError (its documented errors); this
    call on bytes read from disk is the one place they mean corrupt data, not a bug.
    """
    return read_marshal_signed(path)[0]


def read_marshal_signed(path: str) -> tuple[object, str]:
    """read_marshal's value and the signature of the file it was read from: its inode, size, mtime and
    ctime, which any rewrite or replacement changes (unwind.index.open_index's stamps hold the same)."""
    with open(path, "rb") as fh:
        st = os.fstat(fh.fileno())
        data = fh.read()
    try:
        return marshal.loads(data), f"{st.st_ino} {st.st_size} {st.st_mtime_ns} {st.st_ctime_ns}"
    except (EOFError, ValueError, TypeError) as exc:  # marshal's data errors (NOTES.md, error discipline)
        raise CorruptCacheError(f"not a marshal stream ({exc})", path) from exc


def _int(value: object, path: str, what: str, lo: int = -(1 << 64), hi: int = 1 << 64) -> int:
    if type(value) is not int or not lo <= value < hi:
        raise CorruptCacheError(f"{what} is not an integer in [{lo:#x}, {hi:#x})", path)
    return value


def _bytes(value: object, path: str, what: str) -> bytes:
    if type(value) is not bytes:
        raise CorruptCacheError(f"{what} is not bytes", path)
    return value


def check_rule_key(key: object, path: str) -> RuleKey:
    """A rule key (cfi_tables.key_of's shape) whose every field rule_from_key accepts."""
    if type(key) is not tuple or len(key) != 4:
        raise CorruptCacheError("rule key is not a 4-tuple", path)
    cfa, regs, ra, kind = key
    if type(cfa) is not tuple or len(cfa) != 4 or type(regs) is not tuple:
        raise CorruptCacheError("rule key has a malformed CFA or register list", path)
    if _int(cfa[0], path, "CFA kind") not in _CFA_KINDS or _int(kind, path, "frame kind") not in _FRAME_KINDS:
        raise CorruptCacheError("rule key names an unknown CFA or frame kind", path)
    _int(cfa[1], path, "CFA register", 0, 1 << 16)
    _int(cfa[2], path, "CFA offset")
    _bytes(cfa[3], path, "CFA expression")
    _int(ra, path, "return address register", 0, 1 << 16)
    for reg in regs:
        if type(reg) is not tuple or len(reg) != 5:
            raise CorruptCacheError("register rule is not a 5-tuple", path)
        _int(reg[0], path, "register", 0, 1 << 16)
        if _int(reg[1], path, "register rule kind") not in _REG_KINDS:
            raise CorruptCacheError("register rule of an unknown kind", path)
        _int(reg[2], path, "register offset")
        _int(reg[3], path, "source register", 0, 1 << 16)
        _bytes(reg[4], path, "register expression")
    return key  # checked field by field above


_WORD = 1 << 64
_REG = 1 << 16


def _key_ok(key: object) -> bool:
    """check_rule_key's answer without its reasons, in one expression per part: a cache holds hundreds of
    keys and a warm run loads a table per module, so this is the path taken (check_rule_key explains a no)."""
    if type(key) is not tuple or len(key) != 4:
        return False
    cfa, regs, ra, kind = key
    if not (type(cfa) is tuple and len(cfa) == 4 and type(regs) is tuple and type(ra) is int and 0 <= ra < _REG
            and type(kind) is int and kind in _FRAME_KINDS):
        return False
    base, reg, offset, expr = cfa
    if not (type(base) is int and base in _CFA_KINDS and type(reg) is int and 0 <= reg < _REG
            and type(offset) is int and -_WORD <= offset < _WORD and type(expr) is bytes):
        return False
    for rule in regs:
        if type(rule) is not tuple or len(rule) != 5:
            return False
        number, rkind, roffset, source, rexpr = rule
        if not (type(number) is int and 0 <= number < _REG and type(rkind) is int and rkind in _REG_KINDS
                and type(roffset) is int and -_WORD <= roffset < _WORD and type(source) is int
                and 0 <= source < _REG and type(rexpr) is bytes):
            return False
    return True


def _array(value: object, typecode: str, path: str, name: str) -> array[int]:
    if type(value) is not tuple or len(value) != 2 or value[0] != typecode:
        raise CorruptCacheError(f"array {name} is not ({typecode!r}, bytes)", path)
    data = _bytes(value[1], path, f"array {name}")
    out = array(typecode)
    if len(data) % out.itemsize:
        raise CorruptCacheError(f"array {name} is not a whole number of items", path)
    out.frombytes(data)
    return out


def check_compiled(state: object, version: int, path: str,
                   checked_before: bool = False) -> tuple[list[array[int]], list[RuleKey | None], int]:
    """(arrays in ARRAYS order, rule keys, error count) of a compiled table's state, all consistent:
    sorted FDE starts, one non-empty row slice per FDE, every row's rule index inside the keys.

    `checked_before`: the caller knows this very file passed these checks (a stamp of its signature,
    CfiCache._load): only its shape is checked (version, array types, lengths), not every key and row
    (~40 M instructions on every warm run over python3.11 and libc: their keys, row rules and slices)."""
    if type(state) is not dict or state.get("version") != version:
        raise CorruptCacheError("stale or foreign CFI cache format", path)
    arrays = [_array(state.get(name), code, path, name) for name, code in ARRAYS]
    starts, ends, slices, locs, rules = arrays
    keys = state.get("keys")
    if type(keys) is not list:
        raise CorruptCacheError("rule keys are not a list", path)
    errors = _int(state.get("errors"), path, "error count", 0)
    if len(ends) != len(starts) or len(slices) != len(starts) + 1 or len(rules) != len(locs):
        raise CorruptCacheError("array lengths disagree", path)
    if checked_before:
        return arrays, keys, errors
    checked = [key if key is None or _key_ok(key) else check_rule_key(key, path) for key in keys]
    ordered = starts.tolist()  # the checks run in C (sorted, set): a warm run loads a table per module
    if ordered != sorted(ordered) or slices[0] != 0 or slices[-1] != len(locs):
        raise CorruptCacheError("FDE starts unsorted or row slices do not cover the rows", path)
    bounds = slices.tolist()  # strictly increasing: sorted and no repeat
    if bounds != sorted(bounds) or len(set(bounds)) != len(bounds):
        raise CorruptCacheError("an FDE with no rows", path)
    if rules and max(rules) >= len(keys):
        raise CorruptCacheError("a row names a rule past the rule table", path)
    return arrays, checked, errors


def check_analyses(state: object, version: int, path: str) -> dict[int, RuleKey | None]:
    """Frame-0 analyses stored as {"version": version, "analyses": {virtual address: rule key or None}}."""
    if type(state) is not dict or state.get("version") != version:
        raise CorruptCacheError("stale or foreign frame-0 analyses format", path)
    analyses = state.get("analyses")
    if type(analyses) is not dict:
        raise CorruptCacheError("frame-0 analyses are not a dict", path)
    return {_int(vaddr, path, "analysis address", 0): None if key is None else check_rule_key(key, path)
            for vaddr, key in analyses.items()}
