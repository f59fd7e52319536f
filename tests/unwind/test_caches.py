"""Caches are objects their owner made: bounded, counting hits and misses, reachable from the Session
(`Session.cache_stats()`), never shared between two Sessions; persisted ones versioned and written
whole (temp file + rename), a few times per run rather than once per entry."""

from __future__ import annotations

import marshal
import os
import subprocess

import pytest

from conftest import need_tool

import unwind
from formats.elf import ElfFile
from unwind.caches import CacheStats
from unwind.cfi_tables import FRAME0_VERSION, CfiCache
from unwind.demangle import Demangler
from unwind.rules import CfaKind, CfaRule, UnwindRule
from unwind.sim.files import HostFiles

PYTHON = "/usr/bin/python3.11d"
MANGLED = ["_ZNSt6vectorIiSaIiEE9push_backERKi", "_ZN9__gnu_cxx13new_allocatorIcE8allocateEmPKv",
           "_ZNKSt8functionIFvvEEclEv", "_ZSt4endlIcSt11char_traitsIcEERSt13basic_ostreamIT_T0_ES6_"]


def test_two_sessions_share_no_cache():
    """Every cache a Session makes is its own: filling one Session's leaves the other's empty (both use
    the default cache directory: the index on disk is shared, by design, and built once)."""
    with unwind.Session() as a, unwind.Session() as b:
        assert a.demangler is not b.demangler and a.cfi_cache is not b.cfi_cache and a.resolver is not b.resolver
        assert a.symbolizer().demangler is a.demangler is not b.symbolizer().demangler
        a.symbolize(PYTHON, [0x50001F, 0x50001F])
        ours = a.cache_stats()["symbolizer[llvm,inlines,demangle,symbol_table,remember]/addresses"]
        assert ours == CacheStats(hits=1, misses=1, size=1, maxsize=1 << 16)
        theirs = b.cache_stats()["symbolizer[llvm,inlines,demangle,symbol_table,remember]/addresses"]
        assert theirs == CacheStats(0, 0, 0, 1 << 16)
        b.symbolize(PYTHON, [0x50001F])  # the index on disk is shared, the in-memory answer is not
        assert b.cache_stats()["symbolizer[llvm,inlines,demangle,symbol_table,remember]/addresses"].misses == 1
        for name in MANGLED[:2]:
            a.demangler.cxa(name)
        assert a.cache_stats()["demangle-cxa"] == CacheStats(0, 2, 2, 1 << 16)
        assert b.cache_stats()["demangle-cxa"] == CacheStats(0, 0, 0, 1 << 16)


def test_session_stats_name_every_cache_made():
    with unwind.Session() as s:
        assert s.cache_stats() == {}  # nothing made yet
        s.resolver.open(PYTHON)
        s.resolver.open(PYTHON)
        s.cfi_cache.get(ElfFile(PYTHON))
        stats = s.cache_stats()
    assert stats["elf-files"] == CacheStats(1, 1, 1, 256)
    assert stats["cfi-tables"].misses == 1 and stats["cfi-tables"].size == 1
    assert set(stats) >= {"elf-files", "mappings", "cfi-tables", "frame0-analyses"}


def test_demangler_is_bounded_and_agrees_with_binutils():
    """eu-stack's names (__cxa_demangle) are c++filt's; perf's (cplus_demangle without options) are
    `c++filt -p`'s; llvm-symbolizer's are llvm-cxxfilt-14's."""
    need_tool("c++filt")
    need_tool("llvm-cxxfilt-14")
    full = subprocess.run(["c++filt"], input="\n".join(MANGLED), capture_output=True, text=True,
                          check=True).stdout.splitlines()
    short = subprocess.run(["c++filt", "-p"], input="\n".join(MANGLED), capture_output=True, text=True,
                           check=True).stdout.splitlines()
    llvm = subprocess.run(["llvm-cxxfilt-14"], input="\n".join(MANGLED), capture_output=True, text=True,
                          check=True).stdout.splitlines()
    d = Demangler(maxsize=2)
    assert [d.cxa(n) for n in MANGLED] == full
    if d.libiberty() is not None:  # binutils' libbfd present (perf's names fall back to LLVM's otherwise)
        assert [d.perf(n) for n in MANGLED] == short
    assert [d.llvm(n) for n in MANGLED] == llvm
    assert [d.cxa(n) for n in MANGLED[-2:]] == full[-2:]  # the two most recent are held
    stats = d.stats()
    assert stats["demangle-cxa"] == CacheStats(hits=2, misses=4, size=2, maxsize=2)
    assert stats["demangle-llvm"].size == 2 and stats["demangle-llvm"].misses == 4
    assert d.llvm("main") == "main" and d.stats()["demangle-llvm"].misses == 4  # unmangled: no memo


def _rule(offset: int) -> UnwindRule:
    return UnwindRule(CfaRule(CfaKind.REG_OFFSET, 7, offset))


def test_frame0_analyses_persist_versioned_atomically_and_in_few_writes(tmp_path, monkeypatch):
    elf = ElfFile(PYTHON)
    assert elf.build_id
    writes = []
    import unwind.cfi_tables as cfi_tables

    real = cfi_tables.write_atomically
    monkeypatch.setattr(cfi_tables, "write_atomically", lambda path, data: (writes.append(path), real(path, data)))
    cache = CfiCache(tmp_path)
    for i in range(200):
        cache.remember_analysis(elf, 0x1000 + i, _rule(8 + 8 * (i % 3)) if i % 5 else None)
    assert 1 <= len(writes) <= 16  # geometric: not one rewrite per entry
    cache.flush()
    path = tmp_path / "cfi" / f"{elf.build_id.hex()}.frame0-{FRAME0_VERSION}"
    state = marshal.loads(path.read_bytes())
    assert state["version"] == FRAME0_VERSION and len(state["analyses"]) == 200
    assert not [p for p in os.listdir(tmp_path / "cfi") if p.startswith(".tmp-")]
    again = CfiCache(tmp_path).analyses(elf)
    assert again[0x1000] is None and again[0x1001] is not None and len(again) == 200
    # an unversioned file (the old format) is not trusted: the analyses start afresh
    path.write_bytes(marshal.dumps({0x1000: None}))
    assert CfiCache(tmp_path).analyses(elf) == {}


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    from unwind.index import write_atomically

    target = tmp_path / "x.cache"
    write_atomically(str(target), b"old")

    def refuse(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    write_atomically(str(target), b"new")
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["x.cache"]


def test_host_files_are_the_process_own_and_bounded(tmp_path):
    for name in "abc":
        (tmp_path / name).write_bytes(name.encode() * 10)
    files = HostFiles(None, maxsize=2)
    assert [files.open(str(tmp_path / n)).data for n in "aab"] == [b"a" * 10, b"a" * 10, b"b" * 10]
    files.open(str(tmp_path / "c"))
    assert (files.hits, files.misses, len(files._files)) == (1, 3, 2)
    assert HostFiles(None).open(str(tmp_path / "missing")) < 0
    other = HostFiles(None)
    other.open(str(tmp_path / "a"))
    assert other.misses == 1  # nothing shared with the first


@pytest.mark.parametrize("count", [1, 24, 25, 40])
def test_block_read_structs_cover_any_word_count(count):
    from unwind.rules import _words

    assert _words(count).size == 8 * count


def test_frame_resolver_memos_are_bounded(monkeypatch):
    """The perf pipeline's per-address memos empty themselves at MEMO_LIMIT (checked on a miss)."""
    import unwind.resolve as resolve

    monkeypatch.setattr(resolve, "MEMO_LIMIT", 2)
    with unwind.Session() as s:
        frames = resolve.FrameResolver(s.symbolizer(naming="perf"), s.resolver, None)
        addresses = [0xFFFFFFFF81000000 + i for i in range(5)]
        first = frames.kernel_frames(addresses)
        assert [f.addr for f in first] == addresses and len(frames._kernel_memo) <= 2
        assert frames.kernel_frames(addresses) == first


def test_lru_behaves_as_cachetools_lru():
    """unwind.caches.LRU (the Symbolizer's and Demangler's caches, so a warm `unwind symbolize` need not
    import cachetools) holds, after every step of a random run of gets and sets, exactly the entries
    cachetools.LRUCache holds, in the same recency order, and answers every get alike."""
    import random

    from cachetools import LRUCache

    from unwind.caches import LRU

    rng = random.Random(11)
    for maxsize in (1, 3, 17):
        ours: LRU[int, int] = LRU(maxsize)
        peer: LRUCache[int, int] = LRUCache(maxsize)
        for step in range(3000):
            key = rng.randrange(2 * maxsize + 3)
            if rng.random() < 0.5:
                assert ours.get(key) == peer.get(key), (maxsize, step)
            else:
                ours[key] = peer[key] = step
            assert len(ours) == len(peer) and (key in ours) == (key in peer)
            assert list(ours._data) == list(peer._LRUCache__order), (maxsize, step)  # same entries, same LRU order
