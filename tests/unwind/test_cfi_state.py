"""Persisted CFI tables are checked on load: whatever a cache file holds, the table either loads
consistent (every lookup works) or is rejected as CorruptCacheError and rebuilt."""

from __future__ import annotations

import marshal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from formats.elf import ElfFile
from unwind.cfi_state import (
    ARRAYS,
    CorruptCacheError,
    check_analyses,
    check_compiled,
    read_marshal,
)
from unwind.cfi_tables import (
    FORMAT_VERSION,
    CfiCache,
    CompiledCfi,
    cfi_sections,
    compile_sections,
)

BINARY = "/usr/bin/ls"  # Debian's coreutils: a real .eh_frame of a few hundred FDEs


@pytest.fixture(scope="module")
def table() -> CompiledCfi:
    return compile_sections(cfi_sections(ElfFile(BINARY)))


def test_a_saved_table_loads_back_equal(table, tmp_path):
    path = tmp_path / "t.cfi"
    path.write_bytes(marshal.dumps(table.to_state()))
    loaded = CompiledCfi.from_state(read_marshal(str(path)), str(path))
    assert [list(getattr(loaded, name)) for name, _ in ARRAYS] == [list(getattr(table, name)) for name, _ in ARRAYS]
    assert loaded.keys == table.keys and len(table) > 100
    for vaddr in range(table.starts[0], table.ends[-1], 97):
        assert loaded.rule_at(vaddr) == table.rule_at(vaddr)


@pytest.mark.parametrize("damage", [
    lambda s: s.update(version=FORMAT_VERSION + 1),                        # stale format
    lambda s: s.update(row_rules=("I", s["row_rules"][1] + b"\xff\xff\xff\x7f")),  # one row too many
    lambda s: s.update(row_rules=("I", b"\xff\xff\xff\x7f" + s["row_rules"][1][4:])),  # rule index past keys
    lambda s: s.update(row_slices=("I", s["row_slices"][1][:-4])),        # slices miss the last FDE
    lambda s: s.update(starts=("Q", s["starts"][1][::-1])),               # unsorted starts
    lambda s: s.update(row_slices=("I", s["row_slices"][1][:4] * 2 + s["row_slices"][1][8:])),  # FDE 0 rowless
    lambda s: s.update(ends=("q", s["ends"][1])),                         # wrong typecode
    lambda s: s.update(starts=("Q", s["starts"][1][:-3])),                # not whole items
    lambda s: s["keys"].__setitem__(0, ((9, 7, 8, b""), (), 16, 0)),       # CFA kind 9
    lambda s: s["keys"].__setitem__(0, ((0, 7, 8, b""), ((16, 2, "x", 0, b""),), 16, 0)),  # offset a str
    lambda s: s.update(keys=tuple(s["keys"])),                             # keys not a list
    lambda s: s.pop("errors"),
])
def test_inconsistent_states_are_rejected(table, damage):
    state = marshal.loads(marshal.dumps(table.to_state()))
    damage(state)
    with pytest.raises(CorruptCacheError):
        check_compiled(state, FORMAT_VERSION, "planted.cfi")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 1 << 30), st.integers(0, 255)), min_size=1, max_size=8),
       st.integers(0, 1 << 30))
def test_mutated_cache_files_load_consistent_or_are_rejected(table, tmp_path, flips, cut):
    raw = bytearray(marshal.dumps(table.to_state()))
    for at, value in flips:
        raw[at % len(raw)] = value
    path = tmp_path / "m.cfi"
    path.write_bytes(bytes(raw[:len(raw) - cut % 64]))
    try:
        loaded = CompiledCfi.from_state(read_marshal(str(path)), str(path))
    except CorruptCacheError:
        return
    for vaddr in (*loaded.starts[:50], *loaded.ends[:50], *range(table.starts[0], table.ends[-1], 4099)):
        loaded.rule_at(vaddr)  # never an IndexError, KeyError or ValueError


def test_cache_rebuilds_a_planted_inconsistent_table(table, tmp_path, monkeypatch):
    monkeypatch.setenv("UNWIND_CACHE_DIR", str(tmp_path))
    elf = ElfFile(BINARY)
    first = CfiCache(lazy_limit=0)
    first.get(elf)
    (path,) = Path(tmp_path, "cfi").glob("*.cfi")
    state = marshal.loads(path.read_bytes())
    state["row_rules"] = ("I", b"\xff" * len(state["row_rules"][1]))  # valid marshal, indices past the keys
    path.write_bytes(marshal.dumps(state))
    second = CfiCache(lazy_limit=0)
    rebuilt = second.get(elf)
    assert second.compiles == 1 and second.loads == 0
    assert list(rebuilt.row_rules) == list(table.row_rules)


def test_a_table_is_checked_in_full_once_per_version_of_its_file(table, tmp_path, monkeypatch):
    import unwind.cfi_state

    monkeypatch.setenv("UNWIND_CACHE_DIR", str(tmp_path))
    elf = ElfFile(BINARY)
    CfiCache(lazy_limit=0).get(elf)  # compiled and saved: no stamp yet
    (path,) = Path(tmp_path, "cfi").glob("*.cfi")
    stamp = Path(str(path) + ".ok")
    assert not stamp.exists()
    second = CfiCache(lazy_limit=0)
    assert list(second.get(elf).row_rules) == list(table.row_rules)  # loaded, checked in full, stamped
    assert second.loads == 1 and stamp.is_file()

    def no_key_check(key: object) -> bool:
        raise AssertionError("a stamped table's keys were checked again")

    monkeypatch.setattr(unwind.cfi_state, "_key_ok", no_key_check)
    third = CfiCache(lazy_limit=0)
    assert list(third.get(elf).row_rules) == list(table.row_rules) and third.loads == 1
    monkeypatch.undo()
    monkeypatch.setenv("UNWIND_CACHE_DIR", str(tmp_path))

    # another file in its place (a planted one, indices past the keys): its signature differs, checked again
    state = marshal.loads(path.read_bytes())
    state["row_rules"] = ("I", b"\xff" * len(state["row_rules"][1]))
    planted = tmp_path / "planted"
    planted.write_bytes(marshal.dumps(state))
    planted.replace(path)
    fourth = CfiCache(lazy_limit=0)
    rebuilt = fourth.get(elf)
    assert fourth.compiles == 1 and fourth.loads == 0
    assert list(rebuilt.row_rules) == list(table.row_rules)


def test_frame0_analyses_are_checked(tmp_path):
    good = {0x1000: ((0, 7, 8, b""), ((16, 2, -8, 0, b""),), 16, 0), 0x2000: None}
    assert check_analyses({"version": 1, "analyses": good}, 1, "a") == good
    for bad in ([1, 2], {-1: None}, {0x1000: ((0, 7, 8, b""), ((16, 99, -8, 0, b""),), 16, 0)}, {0x10: "x"}):
        with pytest.raises(CorruptCacheError):
            check_analyses({"version": 1, "analyses": bad}, 1, "a")
    for stale in (good, {"version": 0, "analyses": good}, {"analyses": good}):  # unversioned or older files
        with pytest.raises(CorruptCacheError, match="stale"):
            check_analyses(stale, 1, "a")
    path = tmp_path / "x.frame0"
    path.write_bytes(b"\x00garbage")
    with pytest.raises(CorruptCacheError):
        read_marshal(str(path))
