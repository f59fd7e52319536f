"""Peer test files copied into tests/data/peers (origin and licence in their README) answered as llvm-symbolizer 14."""

from __future__ import annotations

import bz2
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import need_tool

PEERS = Path(__file__).resolve().parents[2] / "data" / "peers"
UNWIND = str(Path(sys.executable).parent / "unwind")
FLAG_SETS = [[], ["--output-style=JSON"], ["--output-style=GNU", "-a", "-p", "-s"], ["--no-inlines"], ["--verbose"]]


@pytest.fixture(scope="module")
def testfile56(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("peers") / "testfile56"
    out.write_bytes(bz2.decompress((PEERS / "elfutils" / "testfile56.bz2").read_bytes()))
    return out


@pytest.mark.parametrize("flags", FLAG_SETS, ids=lambda f: " ".join(f) or "default")
def test_unterminated_string_table_refused_as_llvm_does(testfile56, flags, tmp_path, monkeypatch):
    """elfutils' testfile56: `.strtab` has no final NUL; llvm-symbolizer 14 reports it once and answers nothing."""
    need_tool("llvm-symbolizer")
    monkeypatch.setenv("UNWIND_CACHE_DIR", str(tmp_path))
    argv = [f"--obj={testfile56}", *flags, "0x4003bc", "0x4003e0", "0x400450"]
    ours = subprocess.run([UNWIND, "symbolize", *argv], capture_output=True, text=True)
    theirs = subprocess.run(["llvm-symbolizer", *argv], capture_output=True, text=True)
    assert (ours.stdout, ours.stderr, ours.returncode) == (theirs.stdout, theirs.stderr, theirs.returncode)
    assert "non-null terminated" in theirs.stdout + theirs.stderr
