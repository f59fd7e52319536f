"""Cores without an NT_FILE note (older kernels, some dumpers): the libraries come from ld.so's link_map in
the dumped memory.  gcore dumps of the layout builds with their NT_FILE note renamed to an unknown type, so
that eu-stack also has to walk r_debug/link_map: `unwind core` text equals eu-stack's on every thread."""

from __future__ import annotations

import struct
import subprocess
import sys

import pytest

from conftest import load_helper, need_tool

from formats.core import CoreFile
from unwind.linkmap import link_map_entries

layouts = load_helper("data/layouts/layouts.py", "unwind_test_layouts")
NT_FILE = 0x46494C45


@pytest.fixture(scope="module")
def dumps(tmp_path_factory):
    for tool in ("gcore", "eu-stack", "clang++-14"):
        need_tool(tool)
    return str(tmp_path_factory.mktemp("linkmap"))


def without_file_note(core, out):
    data = bytearray(core.read_bytes())
    at = data.find(struct.pack("<I", NT_FILE) + b"CORE\0")
    assert at > 0
    data[at:at + 4] = struct.pack("<I", NT_FILE + 1)     # an unknown note type: both tools skip it
    out.write_bytes(bytes(data))
    return out


@pytest.mark.parametrize("name", ["clang-lld", "gcc-bfd"])
def test_core_without_nt_file_is_eu_stacks(dumps, name, tmp_path):
    dumped = layouts.build(dumps, name)
    core = without_file_note(dumped.core, tmp_path / "nofile.core")
    parsed = CoreFile(str(core))
    assert parsed.files == ()
    names = [n for _, n in link_map_entries(parsed)]
    assert any("/libstdc++.so" in n for n in names) and any("/libc.so" in n for n in names)
    theirs = subprocess.run(["eu-stack", "--core", str(core), "-e", str(dumped.exe)], capture_output=True,
                            text=True).stdout
    ours = subprocess.run([sys.executable, "-m", "unwind", "core", str(core), "--exe", str(dumped.exe)],
                          capture_output=True, text=True)
    assert ours.returncode == 0, ours.stderr
    assert "shapes::park()" in theirs and theirs.count("TID ") == 4
    assert ours.stdout == theirs
