"""The committed corpus matches its build script, and each binary has the properties its name claims
(per readelf/objtool)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT, need_tool, run_tool

CORPUS = ROOT / "corpus"
BIN = CORPUS / "bin"


def _names() -> list[str]:
    out = subprocess.run([sys.executable, str(CORPUS / "build.py"), "--list"], capture_output=True, text=True,
                         check=True).stdout
    return out.split()


def test_every_configuration_is_built_and_nothing_else():
    names = _names()
    assert len(names) == len(set(names)) > 60
    assert sorted(names) == sorted(p.name for p in BIN.iterdir())
    total = sum(p.stat().st_size for p in BIN.iterdir())
    assert total < 20 << 20


def _producer(binary) -> str:
    """DW_AT_producer of the program's own compile unit (gcc records its options there)."""
    info = run_tool(need_tool("readelf"), "--debug-dump=info", str(binary))
    source = binary.name.split("-")[0]
    units = info.split("Compilation Unit @")
    unit = next(u for u in units if f"/{source}.c" in u)
    return next(line for line in unit.splitlines() if "DW_AT_producer" in line)


@pytest.mark.parametrize("name", [n for n in _names() if n.startswith(("recursion-", "nonlocal-"))])
def test_name_matches_link_mode_libc_and_flags(name):
    binary = BIN / name
    program, libc, link, opt, fp = name.split("-")
    headers = run_tool(need_tool("readelf"), "-lW", str(binary))
    interp = headers.split("[Requesting program interpreter: ")[1].split("]")[0] if "interpreter" in headers else None
    if link == "static":
        assert interp is None
    else:
        assert interp == ("/lib/ld-musl-x86_64.so.1" if libc == "musl" else "/lib64/ld-linux-x86-64.so.2")
    producer = _producer(binary)
    assert f"-{opt}" in producer
    if fp == "fp":
        assert "-fno-omit-frame-pointer" in producer
    else:
        assert "-fomit-frame-pointer" in producer
    sections = run_tool(need_tool("readelf"), "-SW", str(binary))
    assert (".orc_unwind_ip" in sections) == (fp == "orc")


def test_orc_binaries_dump_with_objtool():
    objtool = "/usr/lib/linux-kbuild-6.1/tools/objtool/objtool"
    out = run_tool(objtool, "--dump=orc", str(BIN / "recursion-glibc-dynamic-O2-orc"))
    lines = out.splitlines()
    assert len(lines) > 10 and all("type:" in line for line in lines)
