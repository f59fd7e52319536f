"""Kernel symbols: parsed once, then answered from the per-boot index exactly as the parse answers."""

from __future__ import annotations

import os
import random

import pytest

from formats.kallsyms import load_kallsyms
from unwind.kernel import load_kernel_symbols

KALLSYMS = """\
ffffffff81000000 T _text
ffffffff81000000 T startup_64
ffffffff81000070 T secondary_startup_64
ffffffff810001e0 t __startup_64
ffffffff81001000 T do_one_initcall
ffffffff81002000 t über_helper
ffffffffc0a01000 t ext4_fill_super\t[ext4]
ffffffffc0a02000 T ext4_iget\t[ext4]
ffffffffc0b00000 t nf_hook_slow\t[nf_tables]
"""


def _answers(table, addresses):
    return [(s.name, s.offset, s.module) if (s := table.lookup(a)) else None for a in addresses]


def test_index_answers_like_the_parse(tmp_path):
    path = tmp_path / "kallsyms"
    path.write_text(KALLSYMS, encoding="utf-8")
    parsed = load_kallsyms(str(path))
    addresses = [0xFFFFFFFF81000000, 0xFFFFFFFF81000071, 0xFFFFFFFF810001E5, 0xFFFFFFFF81002010,
                 0xFFFFFFFFC0A01234, 0xFFFFFFFFC0A02008, 0xFFFFFFFFC0B00010, 0xFFFFFFFF80000000, 1]
    cold = load_kernel_symbols(str(path), directory=str(tmp_path / "cache"))
    assert len(list((tmp_path / "cache").glob("kallsyms-*.idx"))) == 1
    warm = load_kernel_symbols(str(path), directory=str(tmp_path / "cache"))
    expected = _answers(parsed, addresses)
    assert _answers(cold, addresses) == expected == _answers(warm, addresses)
    assert expected[5] == ("ext4_iget", 8, "ext4") and expected[3] == ("über_helper", 0x10, None)
    assert list(warm.names) == list(parsed.names) and list(warm.modules) == list(parsed.modules)


@pytest.mark.skipif(not os.access("/proc/kallsyms", os.R_OK), reason="no /proc/kallsyms")
def test_running_kernel_from_the_cache_equals_a_fresh_parse(tmp_path):
    parsed = load_kallsyms("/proc/kallsyms")
    load_kernel_symbols(directory=str(tmp_path))
    warm = load_kernel_symbols(directory=str(tmp_path))
    if parsed.restricted:
        assert warm.restricted
        return
    rng = random.Random(7)
    addresses = [rng.randrange(parsed.starts[0], parsed.ends[-1]) for _ in range(2000)]
    assert _answers(warm, addresses) == _answers(parsed, addresses)


def _notes(build_id: bytes) -> bytes:
    """A /sys/kernel/notes image: the Xen-style note perf skips, then the GNU build-id note."""
    import struct

    other = struct.pack("<III", 6, 4, 0x100) + b"Linux\0\0\0" + b"\1\1\0\0"
    return other + struct.pack("<III", 4, len(build_id), 3) + b"GNU\0" + build_id


def test_running_kernel_build_id_is_perfs(tmp_path):
    import shutil
    import subprocess

    from unwind.kernel import running_kernel_build_id

    notes = tmp_path / "notes"
    notes.write_bytes(_notes(bytes(range(20))))
    assert running_kernel_build_id(str(notes)) == bytes(range(20))
    notes.write_bytes(_notes(bytes(range(20)))[:-3])  # cut inside the descriptor: unknown, not an error
    assert running_kernel_build_id(str(notes)) is None
    assert running_kernel_build_id(str(tmp_path / "absent")) is None
    if shutil.which("perf") is None or running_kernel_build_id() is None:
        pytest.skip("no perf or no readable /sys/kernel/notes to compare with")
    theirs = subprocess.run(["perf", "buildid-list", "-k"], capture_output=True, text=True, check=True).stdout.strip()
    assert running_kernel_build_id().hex() == theirs


def test_recorded_kernel_kallsyms_as_perf_chooses(tmp_path, monkeypatch):
    """The running kernel's when it is the recorded one; else perf's build-id cache copy (new and old
    layout), under buildid.dir of ~/.perfconfig when set; else nothing."""
    from unwind.kernel import recorded_kernel_kallsyms

    running, recorded = bytes(range(20)), bytes(range(1, 21))
    notes = tmp_path / "notes"
    notes.write_bytes(_notes(running))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("PERF_BUILDID_DIR", raising=False)
    assert recorded_kernel_kallsyms(running, str(notes)) == (True, None)
    assert recorded_kernel_kallsyms(recorded, str(tmp_path / "unreadable")) == (True, None)  # cannot tell: as before
    assert recorded_kernel_kallsyms(recorded, str(notes)) == (False, None)
    old = tmp_path / ".debug" / "[kernel.kallsyms]" / recorded.hex()
    old.parent.mkdir(parents=True)
    old.write_text("ffffffff81000000 T _stext\n")
    assert recorded_kernel_kallsyms(recorded, str(notes)) == (True, str(old))
    old.unlink()
    new = old / "kallsyms"
    new.parent.mkdir()
    new.write_text("ffffffff81000000 T _stext\n")
    assert recorded_kernel_kallsyms(recorded, str(notes)) == (True, str(new))
    elsewhere = tmp_path / "cache" / "[kernel.kallsyms]" / recorded.hex() / "kallsyms"
    elsewhere.parent.mkdir(parents=True)
    elsewhere.write_text("ffffffff81000000 T _stext\n")
    (tmp_path / ".perfconfig").write_text(f"[buildid]\n\tdir = {tmp_path / 'cache'}  # perf's cache here\n")
    assert recorded_kernel_kallsyms(recorded, str(notes)) == (True, str(elsewhere))
