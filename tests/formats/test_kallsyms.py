"""kallsyms / System.map: lookups equal to what perf prints (sym+symoff) for real kernel samples on this machine."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from conftest import need_tool
from formats.errors import FormatError
from formats.kallsyms import load_kallsyms, parse_kallsyms


@pytest.fixture(scope="module")
def kallsyms():
    table = load_kallsyms("/proc/kallsyms")
    if table.restricted:
        pytest.skip("kptr_restrict hides kernel addresses on this machine")
    return table


@pytest.fixture(scope="module")
def perf_kernel_frames(tmp_path_factory) -> set[tuple[int, str, int]]:
    """(address, symbol, offset) of every kernel frame perf resolved in a short system-wide recording."""
    tmp = tmp_path_factory.mktemp("kallsyms")
    data = tmp / "perf.data"
    perf = need_tool("perf")
    subprocess.run([perf, "record", "-q", "-a", "-g", "-e", "cpu-clock", "-F", "4000", "-o", data, "--",
                    "sh", "-c", "for i in 1 2 3 4 5 6 7 8; do ls -R /usr/lib/python3.11 >/dev/null; done"],
                   check=True, capture_output=True)
    text = subprocess.run([perf, "script", "-i", data, "-F", "ip,sym,symoff,dso"], check=True,
                          capture_output=True, text=True).stdout
    frames = set()
    for match in re.finditer(r"^\s*([0-9a-f]+) (\S+)\+0x([0-9a-f]+) \(\[kernel\.kallsyms\]\)$", text, re.M):
        frames.add((int(match[1], 16), match[2], int(match[3], 16)))
    return frames


def test_lookup_matches_perf_for_real_kernel_frames(kallsyms, perf_kernel_frames):
    assert len(perf_kernel_frames) > 20
    ours = {(a, *(lambda s: (s.name, s.offset) if s else (None, None))(kallsyms.lookup(a)))
            for a, _, _ in perf_kernel_frames}
    assert ours == perf_kernel_frames


def test_real_table_shape(kallsyms):
    assert list(kallsyms.starts) == sorted(kallsyms.starts)
    assert all(s < e for s, e in zip(kallsyms.starts, kallsyms.ends))
    listed = re.search(r"^([0-9a-f]+) T do_syscall_64$", Path("/proc/kallsyms").read_text(), re.M)
    assert kallsyms.address_of("do_syscall_64") == int(listed[1], 16)
    symbol = kallsyms.lookup(kallsyms.address_of("do_syscall_64") + 3)
    assert (symbol.name, symbol.offset, symbol.module) == ("do_syscall_64", 3, None)


def test_module_symbols(kallsyms):
    modules = kallsyms.module_names()
    if not modules:
        pytest.skip("no module symbols listed")
    i = next(i for i, m in enumerate(kallsyms.modules) if m)
    assert kallsyms.lookup(kallsyms.starts[i]).module == kallsyms.modules[i]


SYSTEM_MAP = """\
ffffffff81000000 T _text
ffffffff81000000 T startup_64
ffffffff81000000 t __startup_64_alias
ffffffff81000040 W weak_one
ffffffff81000040 t local_one
ffffffff81000080 T __x64_sys_read
ffffffff81000100 r some_rodata
ffffffff81000200 D data_thing
ffffffffc0001000 t mod_func\t[nf_tables]
ffffffffc0001010 T mod_func2\t[nf_tables]
"""


def test_synthetic_system_map():
    table = parse_kallsyms(SYSTEM_MAP, "System.map")
    # Of aliases at one address the last listed wins (perf sizes the others 0 before de-duplicating).
    assert table.names == ("__startup_64_alias", "local_one", "__x64_sys_read", "data_thing", "mod_func", "mod_func2")
    assert table.lookup(0xFFFFFFFF81000010).name == "__startup_64_alias"
    local = table.lookup(0xFFFFFFFF81000041)
    assert (local.name, local.offset, local.size, local.type) == ("local_one", 1, 0x40, "t")
    # r is not kept by perf; the read syscall stretches to the next kept symbol.
    read = table.lookup(0xFFFFFFFF81000150)
    assert (read.name, read.offset, read.size) == ("__x64_sys_read", 0xD0, 0x180)
    # vmlinux -> module boundary: one page after roundup(start, page).
    assert table.lookup(0xFFFFFFFF81002000) is None
    assert table.lookup(0xFFFFFFFF81001FFF).name == "data_thing"
    func = table.lookup(0xFFFFFFFFC0001004)
    assert (func.name, func.offset, func.module) == ("mod_func", 4, "nf_tables")
    assert table.lookup(0xFFFFFFFFC0002FFF).name == "mod_func2"
    assert table.lookup(0xFFFFFFFFC0003000) is None
    assert table.lookup(0x1000) is None
    everything = parse_kallsyms(SYSTEM_MAP, types=None)
    assert "some_rodata" in everything.names


def test_restricted_addresses_are_detected():
    table = parse_kallsyms("0000000000000000 T _text\n0000000000000000 t foo\t[mod]\n")
    assert table.restricted and table.lookup(0) is None


def test_bad_lines():
    for bad in ("zz T x\n", "ffff T\n", "ffff TT x\n", "1" * 20 + " T x\n"):
        with pytest.raises(FormatError):
            parse_kallsyms(bad)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_random_text_only_raises_format_error(text):
    try:
        table = parse_kallsyms(text)
    except FormatError:
        return
    for address in (0, 1, 2**63, 2**64 - 1):
        table.lookup(address)


line = st.tuples(st.integers(0, 2**64 - 1), st.sampled_from("tTwWdDbBrRaA"),
                 st.text(st.characters(min_codepoint=33, max_codepoint=126, blacklist_characters="["),
                         min_size=1, max_size=8),
                 st.none() | st.text(st.sampled_from("abc_xyz"), min_size=1, max_size=5))


@settings(max_examples=150, deadline=None)
@given(st.lists(line, max_size=30))
def test_fast_and_line_by_line_readers_agree(lines):
    text = "".join(f"{a:016x} {t} {n}" + (f"\t[{m}]" if m else "") + "\n" for a, t, n, m in lines)
    # A whitespace-only line is legal but not canonical: it sends the text through the line-by-line reader.
    assert parse_kallsyms(text) == parse_kallsyms(text + " \n")
    assert parse_kallsyms(text, types=None) == parse_kallsyms(text + " \n", types=None)
