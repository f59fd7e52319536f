"""`.gnu_debugaltlink` and `.debug_sup` links, read from files dwz wrote and checked against readelf."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from corpus import symbolize_builds as builds
from formats.dwarf.sup import parse_debug_sup, parse_gnu_debugaltlink, read_alt_link, supplementary_identity
from formats.elf import ElfFile
from formats.errors import FormatError, TruncatedError
from tests.conftest import need_tool


@pytest.fixture(scope="module")
def dwz5(tmp_path_factory) -> tuple[Path, Path]:
    """Two C++ builds rewritten by `dwz -5 -m`: (a binary, the supplementary file)."""
    need_tool("dwz")
    out = tmp_path_factory.mktemp("dwz5")
    one = builds.compile_c(out, "one", "g++", builds.CXX, ["-O2", "-g"])
    two = builds.compile_c(out, "two", "g++", builds.CXX, ["-O1", "-g"])
    sup = out / "sup.debug"
    builds.run(["dwz", "-5", "-m", str(sup), "-M", str(sup), str(one), str(two)], out)
    return one, sup


def test_debug_sup_names_the_supplementary_file_readelf_finds(dwz5):
    binary, sup = dwz5
    link = read_alt_link(ElfFile(str(binary)))
    assert link is not None and link.section == ".debug_sup" and not link.is_supplementary
    assert link.name == str(sup)
    run = subprocess.run(["readelf", "--debug-dump=info", str(binary)], capture_output=True)
    assert f"Found supplementary debug file: {sup}".encode() in run.stdout + run.stderr  # readelf follows the same name
    # the supplementary file states the checksum the binary asks for (dwz -5 writes no build-id note)
    assert read_alt_link(ElfFile(str(sup))) is None
    assert supplementary_identity(ElfFile(str(sup))) == link.build_id and len(link.build_id) == 20


def test_truncated_links_raise_typed_errors(dwz5):
    binary, _ = dwz5
    raw = ElfFile(str(binary)).section_bytes(".debug_sup")
    assert parse_debug_sup(raw).build_id  # the whole section reads
    for cut in (2, 6, len(raw) - 25, len(raw) - 1):
        with pytest.raises(TruncatedError):
            parse_debug_sup(raw[:cut], "x")
    with pytest.raises(FormatError, match="version 7"):
        parse_debug_sup(b"\x07\x00\x00a\x00\x00", "x")
    with pytest.raises(TruncatedError):
        parse_gnu_debugaltlink(b"/no/terminator", "x")


def test_debian_binary_links_its_dwz_file():
    """Debian's own binutils is dwz-compressed: the link names /usr/lib/debug/.dwz/... as readelf prints it."""
    readelf = need_tool("readelf")
    dump = subprocess.run(["readelf", "-p", ".gnu_debugaltlink", readelf], capture_output=True).stdout
    link = read_alt_link(ElfFile(readelf))
    assert link is not None and link.name.startswith("/usr/lib/debug/.dwz/")
    assert f"]  {link.name}\n".encode() in dump
    assert len(link.build_id) == 20
