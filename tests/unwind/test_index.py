"""The persistent index: built once, reused, and never trusted when stale, truncated or corrupt."""

from __future__ import annotations

import os
import subprocess
from array import array
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

from formats.elf import ElfFile
from formats.symindex import CorruptIndexError, IndexFile, write_index
from unwind.index import IndexSources
from unwind.symbolizer import Symbolizer

SOURCE = r"""
static inline __attribute__((always_inline)) int twice(int x) { return 2 * x; }
__attribute__((noinline)) int work(int x) { return twice(x) + 1; }
int main(int argc, char **argv) { return work(argc); }
"""


def build(tmp: Path, name: str, *flags: str) -> Path:
    (tmp / "p.c").write_text(SOURCE)
    subprocess.run(["gcc", "-O2", "-g", *flags, "p.c", "-o", name], cwd=tmp, check=True)
    return tmp / name


def work_address(binary: Path) -> int:
    out = subprocess.run(["nm", str(binary)], capture_output=True, text=True, check=True).stdout
    return next(int(line.split()[0], 16) for line in out.splitlines() if line.endswith(" work"))


def answer(binary: Path, index_dir: Path, address: int):
    """The frames for `address`, without the module path (answers of different copies are compared)."""
    return [f._replace(module=None) for f in Symbolizer(index_dir=index_dir).symbolize(str(binary), [address])[0]]


def test_index_is_built_once_then_reused(tmp_path):
    binary = build(tmp_path, "p")
    first = answer(binary, tmp_path / "idx", work_address(binary))
    files = list((tmp_path / "idx").glob("*.idx"))
    assert len(files) == 1 and files[0].name.startswith(ElfFile(binary).build_id.hex() + "-")
    mtime = files[0].stat().st_mtime_ns
    assert answer(binary, tmp_path / "idx", work_address(binary)) == first
    assert files[0].stat().st_mtime_ns == mtime  # not rebuilt
    assert first[-1].symbol == "work" and first[-1].file.endswith("p.c")


def test_files_sharing_a_build_id_keep_their_own_index(tmp_path):
    """The original, a stripped copy + its debuglink file and a recompressed copy: one index each, no evictions."""
    original = build(tmp_path, "p")
    stripped = tmp_path / "stripped"
    subprocess.run(["objcopy", "--only-keep-debug", str(original), str(tmp_path / "p.debug")], check=True)
    subprocess.run(["objcopy", "--strip-debug", "--add-gnu-debuglink=p.debug", str(original), str(stripped)],
                   cwd=tmp_path, check=True)
    recompressed = tmp_path / "zlib"
    subprocess.run(["objcopy", "--compress-debug-sections=zlib", str(original), str(recompressed)], check=True)
    copies = (original, stripped, recompressed)
    assert len({ElfFile(c).build_id for c in copies}) == 1
    address = work_address(original)
    first = [answer(c, tmp_path / "idx", address) for c in copies]
    assert first[0] == first[1] == first[2] and first[0][-1].file.endswith("p.c")
    files = sorted((tmp_path / "idx").glob("*.idx"))
    assert len(files) == 3
    stamps = [f.stat().st_mtime_ns for f in files]
    for _ in range(2):  # alternating between them rebuilds nothing
        assert [answer(c, tmp_path / "idx", address) for c in copies] == first
    assert sorted((tmp_path / "idx").glob("*.idx")) == files
    assert [f.stat().st_mtime_ns for f in files] == stamps


def test_changed_split_dwarf_file_rebuilds_the_index(tmp_path):
    """The binary stays the same while its .dwo changes (the inlined function renamed in .debug_str.dwo, same
    length), disappears, comes back: every run answers from the .dwo as it is then, as llvm-symbolizer 14 does."""
    import shutil

    from conftest import need_tool
    from llvm_peer import llvm_frames

    need_tool("llvm-symbolizer")
    # a volatile keeps the inlined call's code apart from its caller's
    (tmp_path / "p.c").write_text(SOURCE.replace("return 2 * x;", "volatile int y = x; return 2 * y;"))
    subprocess.run(["gcc", "-O2", "-g", "-gsplit-dwarf", "-c", "p.c", "-o", "p.o"], cwd=tmp_path, check=True)
    subprocess.run(["gcc", "p.o", "-o", "p"], cwd=tmp_path, check=True)
    binary, dwo, idx = tmp_path / "p", tmp_path / "p.dwo", tmp_path / "idx"
    address = work_address(binary)

    def both() -> list[str | None]:
        ours = [f.symbol for f in answer(binary, idx, address)]
        theirs = [f["FunctionName"] or None for f in llvm_frames(str(binary), [address])[0]]
        assert ours == theirs
        return ours

    assert both() == ["twice", "work"]
    data = dwo.read_bytes()
    assert data.count(b"twice\0") == 1
    dwo.write_bytes(data.replace(b"twice\0", b"TWICE\0"))
    assert both() == ["TWICE", "work"]
    shutil.move(dwo, tmp_path / "away")
    with pytest.warns(UserWarning, match="split DWARF unit"):
        assert both() == ["work"]
    shutil.move(tmp_path / "away", dwo)
    assert both() == ["TWICE", "work"]
    assert len(list(idx.glob("*.idx"))) == 1  # rebuilt in place: same binary, same index file
    mtime = next(idx.glob("*.idx")).stat().st_mtime_ns
    assert both() == ["TWICE", "work"]
    assert next(idx.glob("*.idx")).stat().st_mtime_ns == mtime  # unchanged inputs: not rebuilt


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty", "garbage"])
def test_damaged_index_is_rebuilt_not_believed(tmp_path, damage):
    binary = build(tmp_path, "p")
    address = work_address(binary)
    good = answer(binary, tmp_path / "idx", address)
    index = next((tmp_path / "idx").glob("*.idx"))
    data = bytearray(index.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        data[len(data) - 9] ^= 0x55  # inside the arrays: only the checksum can tell
    elif damage == "empty":
        data = bytearray()
    else:
        data = bytearray(b"garbage" * 100)
    index.write_bytes(bytes(data))
    with pytest.raises((CorruptIndexError, OSError)):
        IndexFile(str(index), IndexSources(ElfFile(binary), None).key())
    assert answer(binary, tmp_path / "idx", address) == good
    IndexFile(str(index), IndexSources(ElfFile(binary), None).key())  # rebuilt and valid again


def test_checksum_is_checked_once_per_version_of_the_file(tmp_path, monkeypatch):
    """A stamp remembers the file a checksum passed for; a rewritten file is checked (and rejected) again."""
    import formats.symindex
    from unwind.index import open_index

    path = tmp_path / "x.idx"
    write_index(str(path), b"k", {"a": array("Q", range(1000))})
    checks = []
    real_crc = formats.symindex.zlib.crc32
    monkeypatch.setattr(formats.symindex.zlib, "crc32", lambda data: checks.append(1) or real_crc(data))
    assert list(open_index(str(path), b"k").array("a")) == list(range(1000))
    assert list(open_index(str(path), b"k").array("a")) == list(range(1000))
    assert len(checks) == 1 and (tmp_path / "x.idx.ok").is_file()
    data = bytearray(path.read_bytes())
    data[-9] ^= 0x55  # same size, new mtime/ctime: not the file the stamp vouches for
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptIndexError):
        open_index(str(path), b"k")
    assert len(checks) == 2


def test_stale_index_for_a_rebuilt_binary_is_replaced(tmp_path):
    binary = build(tmp_path, "p", "-Wl,--build-id=0x0123456789abcdef")
    before = answer(binary, tmp_path / "idx", work_address(binary))
    # Same build-id, different code (a rebuilt file): the size/mtime part of the key changes.
    (tmp_path / "p.c").write_text(SOURCE.replace("2 * x", "3 * x + 7 * (x & 1)"))
    subprocess.run(["gcc", "-O0", "-g", "-Wl,--build-id=0x0123456789abcdef", "p.c", "-o", "p"], cwd=tmp_path,
                   check=True)
    os.utime(binary, ns=(1, 1))
    after = answer(binary, tmp_path / "idx", work_address(binary))
    assert after[-1].symbol == "work"
    expected = subprocess.run(["llvm-symbolizer", f"--obj={binary}", hex(work_address(binary))],
                              capture_output=True, text=True, check=True).stdout.split("\n")
    assert f"{after[-1].file}:{after[-1].line}:{after[-1].column}" == expected[1]
    assert before != after or before[-1].line == after[-1].line


def test_unwritable_cache_still_answers(tmp_path):
    binary = build(tmp_path, "p")
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("x")
    frames = answer(binary, blocked / "idx", work_address(binary))
    assert frames[-1].symbol == "work"


@pytest.mark.parametrize("kind", ["zlib", "zstd", "zlib-gnu"])
def test_compressed_debug_sections(tmp_path, kind):
    """SHF_COMPRESSED with zlib and zstd, and legacy .zdebug_* sections, answer like the plain file."""
    plain = build(tmp_path, "plain")
    packed = tmp_path / "packed"
    subprocess.run(["objcopy", f"--compress-debug-sections={kind}", str(plain), str(packed)], check=True)
    names = {s.name for s in ElfFile(packed).sections}
    assert (".zdebug_info" in names) == (kind == "zlib-gnu")
    address = work_address(plain)
    assert answer(packed, tmp_path / "i2", address) == answer(plain, tmp_path / "i1", address)


def test_debuglink_with_crc_check(tmp_path):
    binary = build(tmp_path, "p", "-Wl,--build-id=none")
    address = work_address(binary)
    full = answer(binary, tmp_path / "i0", address)
    debug = tmp_path / "p.debug"
    subprocess.run(["objcopy", "--only-keep-debug", str(binary), str(debug)], check=True)
    subprocess.run(["objcopy", "--strip-debug", f"--add-gnu-debuglink={debug}", str(binary)], check=True)
    assert answer(binary, tmp_path / "i1", address) == full
    # A debug file whose CRC does not match is not used: only the symbol table answers.
    debug.write_bytes(debug.read_bytes() + b"\0")
    stale = answer(binary, tmp_path / "i2", address)
    assert stale[-1].symbol == "work" and stale[-1].line is None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blob=st.binary(max_size=512), cut=st.integers(min_value=0, max_value=600))
def test_index_container_rejects_any_damage(tmp_path, blob, cut):
    path = tmp_path / "x.idx"
    write_index(str(path), b"k", {"a": array("Q", [1, 2, 3]), "s": b"text"})
    data = path.read_bytes()
    damaged = (data[:cut] + blob + data[cut + len(blob):])[: max(cut, 1) + len(blob)]
    path.write_bytes(damaged)
    try:
        index = IndexFile(str(path), b"k")
    except CorruptIndexError:
        return
    assert list(index.array("a")) == [1, 2, 3] and index.bytes("s") == b"text"
