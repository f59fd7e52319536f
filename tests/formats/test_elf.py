"""formats.elf and formats.symtab against readelf, and on damaged input."""

from __future__ import annotations

import re
import subprocess

from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import LIBC, PYTHON_DBG
from formats.elf import ElfFile
from formats.errors import FormatError
from formats.symtab import read_symbols

SMALL = LIBC  # 2 MB, has .dynsym, build-id and .gnu_debuglink


def readelf(*args: str) -> str:
    return subprocess.run(["readelf", "-W", *args], capture_output=True, text=True, check=True).stdout


def test_sections_equal_readelf():
    expected = re.findall(r"^\s*\[\s*(\d+)\]\s+(\S*)\s+\S+\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)",
                          readelf("-S", str(SMALL)), re.M)
    ours = ElfFile(SMALL).sections
    assert [(str(s.index), s.name, f"{s.addr:016x}", f"{s.offset:06x}", f"{s.size:06x}") for s in ours[1:]] == \
        [e for e in expected if e[0] != "0"]


def test_build_id_and_debuglink_equal_readelf():
    notes = readelf("-n", str(SMALL))
    build_id = re.search(r"Build ID: ([0-9a-f]+)", notes).group(1)
    elf = ElfFile(SMALL)
    assert elf.build_id.hex() == build_id
    link = readelf("--string-dump=.gnu_debuglink", str(SMALL))
    assert elf.debuglink[0] in link


def test_symbols_equal_readelf():
    out = readelf("--dyn-syms", str(SMALL))
    rows = re.findall(r"^\s+(\d+): ([0-9a-f]+)\s+(\d+) (\w+)\s+(\w+)\s+\w+\s+\S+ ?(\S*)", out, re.M)
    ours = read_symbols(ElfFile(SMALL), ".dynsym")
    assert len(ours) == len(rows)
    for sym, (index, value, size, _type, _bind, name) in zip(ours, rows):
        assert (sym.index, sym.value, sym.size) == (int(index), int(value, 16), int(size))
        assert name.split("@")[0] == sym.name


def test_big_symtab_count():
    out = readelf("-s", str(PYTHON_DBG))
    count = int(re.search(r"Symbol table '\.symtab' contains (\d+) entries", out).group(1))
    assert len(read_symbols(ElfFile(PYTHON_DBG), ".symtab")) == count


_HEAD = SMALL.read_bytes()[:4096]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cut=st.integers(min_value=0, max_value=len(_HEAD)), noise=st.binary(max_size=64),
       at=st.integers(min_value=0, max_value=len(_HEAD)))
def test_damaged_headers_raise_only_format_errors(cut, noise, at):
    data = bytearray(_HEAD[:cut])
    data[at:at + len(noise)] = noise
    try:
        elf = ElfFile(data=bytes(data))
        for section in elf.sections:
            elf.section_bytes(section)
        _ = (elf.segments, elf.build_id, elf.debuglink)  # evaluated for their errors
        read_symbols(elf, ".symtab"), read_symbols(elf, ".dynsym")
    except FormatError:
        pass
