"""ELF core notes against eu-readelf on gcore and kernel dumps; hand-built cores; corrupt notes stay typed errors."""

from __future__ import annotations

import re
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from formats.core import (USER_REGS, AuxType, CoreFile, FileMapping, NoteType, PrPsInfo, PrStatus,
                          build_file_note, parse_auxv, parse_file_note)
from formats.errors import FormatError, UnwindError





def eu_readelf_notes(path: Path) -> str:
    return subprocess.run(["eu-readelf", "-n", str(path)], capture_output=True, text=True, check=True).stdout


def kernel_core(built: Path) -> Path:
    core = built / "kernel.core"
    if not core.exists():
        pytest.skip("the kernel did not write a core here (core_pattern pipes or points elsewhere)")
    return core


def check_against_eu_readelf(core_path: Path):
    core = CoreFile(str(core_path))
    text = eu_readelf_notes(core_path)
    # NT_PRSTATUS: pid and every general register eu-readelf prints, thread by thread
    blocks = text.split("  CORE                 336  PRSTATUS\n")[1:]
    assert len(blocks) == len(core.threads) >= 5
    for block, thread in zip(blocks, core.threads):
        assert int(re.search(r"\bpid: (\d+)", block)[1]) == thread.tid
        for name, value in re.findall(r"\b(r\w+|fs\.base|gs\.base):\s+(-?\w+)", block):
            reg = {"rflags": "eflags", "fs.base": "fs_base", "gs.base": "gs_base"}.get(name, name)
            number = int(value, 16) if value.startswith("0x") else int(value) & (2**64 - 1)
            assert thread.status.reg(reg) == number, (thread.tid, name)
        assert int(re.search(r"orig_rax: (-?\d+)", block)[1]) & (2**64 - 1) == thread.status.reg("orig_rax")
    # NT_FILE: every mapping, in order
    files = re.findall(r"^\s+([0-9a-f]+)-([0-9a-f]+) ([0-9a-f]+) (\d+)\s+(\S.*)$", text, re.M)
    assert [(int(a, 16), int(b, 16), int(o, 16), p) for a, b, o, _, p in files] == \
        [(f.start, f.end, f.offset, f.path) for f in core.files]
    # NT_AUXV: the named entries
    auxv = dict(re.findall(r"^\s+(SYSINFO_EHDR|PAGESZ|PHDR|BASE|ENTRY|EXECFN): (\w+)$", text, re.M))
    for name, value in auxv.items():
        assert core.auxv[AuxType[name]] == int(value, 0)
    # NT_PRPSINFO
    m = re.search(r"pid: (\d+), ppid: (\d+), pgrp: (\d+), sid: (\d+)\n\s+fname: (\S+), psargs: (.*)", text)
    info = core.prpsinfo
    assert (info.pid, info.ppid, info.pgrp, info.sid, info.fname, info.psargs) == \
        (int(m[1]), int(m[2]), int(m[3]), int(m[4]), m[5], m[6])
    return core


def test_gcore_notes_equal_eu_readelf(built):
    core = check_against_eu_readelf(built / "fp.core")
    assert core.file_page_size == 1  # gdb writes byte offsets
    assert core.vdso_image[:4] == b"\x7fELF"
    assert all(t.siginfo is not None for t in core.threads)


def test_kernel_core_notes_equal_eu_readelf(built):
    core = check_against_eu_readelf(kernel_core(built))
    assert core.file_page_size == 4096  # the kernel writes page numbers
    assert core.threads[0].siginfo.signo == 6  # SIGABRT, as sent
    assert any(f.offset > 0 for f in core.files)


def test_memory_reads_match_gdb(built):
    core = CoreFile(str(built / "fp.core"))
    sp = core.threads[0].status.reg("rsp")
    out = subprocess.run(["gdb", "-nx", "-batch", "-ex", "x/2gx $sp", str(built / "fp"), str(built / "fp.core")],
                         capture_output=True, text=True, check=True).stdout
    words = [int(w, 16) for w in re.search(r"^0x[0-9a-f]+:\s+(0x\w+)\s+(0x\w+)", out, re.M).groups()]
    assert list(struct.unpack("<2Q", core.read(sp, 16))) == words
    assert core.read(0, 8) is None and not core.has(0)


# ---- hand-built cores -----------------------------------------------------------------------

def note(name: bytes, typ: int, desc: bytes) -> bytes:
    pad = lambda b: b + b"\0" * (-len(b) % 4)  # noqa: E731
    return struct.pack("<III", len(name) + 1, len(desc), typ) + pad(name + b"\0") + pad(desc)


def make_core(notes: bytes, loads: list[tuple[int, bytes]] = ()) -> bytes:
    """ELF64 ET_CORE: header, one PT_NOTE, one PT_LOAD per (vaddr, bytes)."""
    phnum = 1 + len(loads)
    data_at = 64 + 56 * phnum
    ehdr = b"\x7fELF\x02\x01\x01" + b"\0" * 9 + struct.pack("<HHIQQQIHHHHHH", 4, 62, 1, 0, 64, 0, 0, 64, 56,
                                                            phnum, 0, 0, 0)
    phdrs = struct.pack("<IIQQQQQQ", 4, 4, data_at, 0, 0, len(notes), 0, 1)
    blob, at = notes, data_at + len(notes)
    for vaddr, body in loads:
        phdrs += struct.pack("<IIQQQQQQ", 1, 6, at, vaddr, 0, len(body), len(body) + 0x1000, 1)
        blob += body
        at += len(body)
    return ehdr + phdrs + blob


def prstatus(pid: int, **regs) -> PrStatus:
    values = tuple(regs.get(name, i) for i, name in enumerate(USER_REGS))
    return PrStatus(0, 0, 0, 0, 0, 0, pid, 1, pid, pid, values, 1)


def test_hand_built_core_threads_files_and_memory():
    files = [FileMapping(0x400000, 0x401000, 0, "/bin/a"), FileMapping(0x401000, 0x403000, 0x1000, "/bin/a")]
    notes = (note(b"CORE", NoteType.PRSTATUS, prstatus(7, rip=0x401234, rsp=0x7000).to_bytes())
             + note(b"CORE", NoteType.SIGINFO, struct.pack("<iiixxxxQ", 11, 0, 1, 0xDEAD) + b"\0" * 104)
             + note(b"CORE", NoteType.PRSTATUS, prstatus(8, rip=0x401000).to_bytes())
             + note(b"CORE", NoteType.FILE, build_file_note(files))
             + note(b"CORE", NoteType.AUXV,
                    struct.pack("<6Q", AuxType.PAGESZ, 4096, AuxType.SYSINFO_EHDR, 0x9000, 0, 0)))
    core = CoreFile(data=make_core(notes, [(0x7000, b"\x11" * 16), (0x9000, b"\x7fELF")]))
    assert [t.tid for t in core.threads] == [7, 8]
    assert core.threads[0].status.reg("rip") == 0x401234 and core.threads[0].siginfo.addr == 0xDEAD
    assert core.threads[1].siginfo is None
    assert core.files == tuple(files) and core.file_page_size == 4096
    assert core.read(0x7008, 8) == b"\x11" * 8
    assert core.read(0x7010, 8) is None  # inside memsz, beyond filesz: not in the dump
    assert core.vdso_base == 0x9000


def test_file_note_both_page_size_conventions():
    files = [FileMapping(0x1000, 0x3000, 0x5000, "/lib/x.so"), FileMapping(0x3000, 0x4000, 0, "/lib/y.so")]
    kernel = build_file_note(files, 4096)
    gdb = build_file_note(files, 1)
    # count=2, page size, then (start, end, offset/page size) for each entry
    assert kernel[:16] == struct.pack("<QQ", 2, 4096) and kernel[32:40] == struct.pack("<Q", 5)
    assert gdb[32:40] == struct.pack("<Q", 0x5000)
    assert parse_file_note(kernel) == parse_file_note(gdb) == tuple(files)


def test_prstatus_and_prpsinfo_round_trip():
    status = prstatus(42, rip=1, rsp=2, rbp=3)
    assert PrStatus.from_bytes(status.to_bytes()) == status and len(status.to_bytes()) == 336
    info = PrPsInfo(0, "R", 0, 0, 0x400000, 0, 0, 42, 1, 42, 42, "prog", "prog --flag")
    assert PrPsInfo.from_bytes(info.to_bytes()) == info and len(info.to_bytes()) == 136


def test_bad_notes_are_format_errors():
    short = note(b"CORE", NoteType.PRSTATUS, b"\0" * 100)
    with pytest.raises(FormatError, match="NT_PRSTATUS"):
        CoreFile(data=make_core(short))
    lying = note(b"CORE", NoteType.FILE, struct.pack("<QQ", 1000, 4096))
    with pytest.raises(FormatError, match="NT_FILE"):
        CoreFile(data=make_core(lying))
    with pytest.raises(FormatError, match="not a core"):
        CoreFile(data=make_core(b"")[:16] + struct.pack("<H", 2) + make_core(b"")[18:])
    arm = bytearray(make_core(b""))
    arm[18:20] = struct.pack("<H", 183)  # EM_AARCH64
    with pytest.raises(FormatError, match="only x86-64"):
        CoreFile(data=bytes(arm))
    assert parse_auxv(b"\x01\x02") == {}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_corrupted_cores_parse_or_raise_typed_errors(data):
    files = [FileMapping(0x400000, 0x401000, 0x2000, "/bin/a")]
    good = make_core(note(b"CORE", NoteType.PRSTATUS, prstatus(7).to_bytes())
                     + note(b"CORE", NoteType.FILE, build_file_note(files))
                     + note(b"CORE", NoteType.AUXV, struct.pack("<4Q", 6, 4096, 0, 0)), [(0x7000, b"\x22" * 64)])
    raw = bytearray(good)
    for _ in range(data.draw(st.integers(1, 8))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    raw = raw[:data.draw(st.integers(0, len(raw)))]
    try:
        core = CoreFile(data=bytes(raw))
    except UnwindError:
        return
    for thread in core.threads:
        assert len(thread.status.regs) == len(USER_REGS)
    core.read(0x7000, 8)
    _ = core.vdso_image  # evaluated for its error
