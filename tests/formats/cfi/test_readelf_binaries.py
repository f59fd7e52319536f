"""`unwind dump-cfi` against `readelf --debug-dump=frames-interp` on real Debian binaries, every FDE."""

from __future__ import annotations

import difflib
import subprocess
import sys

import pytest

from conftest import LIBC, LIBSTDCXX_DBG, PYTHON, PYTHON_DBG, need_tool

BINARIES = [LIBC, PYTHON, PYTHON_DBG, LIBSTDCXX_DBG]


@pytest.mark.slow
@pytest.mark.parametrize("path", BINARIES, ids=lambda p: p.name)
def test_dump_cfi_equals_readelf(path):
    # readelf exits 1 here: the separate debug file's .eh_frame is NOBITS (it says so on stdout)
    expected = subprocess.run([need_tool("readelf"), "--debug-dump=frames-interp", str(path)],
                              capture_output=True, text=True).stdout
    ours = subprocess.run([sys.executable, "-m", "unwind", "dump-cfi", str(path)],
                          capture_output=True, text=True, check=True).stdout
    fdes = expected.count(" FDE cie=")
    assert fdes > 1000  # the whole table, not a sample
    if ours != expected:
        diff = "".join(list(difflib.unified_diff(expected.splitlines(True), ours.splitlines(True), "readelf",
                                                 "ours"))[:60])
        pytest.fail(f"dump-cfi differs from readelf on {path}:\n{diff}")
