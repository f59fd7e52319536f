"""Shared fixtures: paths of the real Debian binaries the tests compare against."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYTHON_DBG = Path("/usr/bin/python3.11d")
PYTHON = Path("/usr/bin/python3.11")
LIBC = Path("/usr/lib/x86_64-linux-gnu/libc.so.6")
LIBSTDCXX_DBG = Path("/usr/lib/x86_64-linux-gnu/debug/libstdc++.so.6.0.30")
DEBUG_ROOT = Path("/usr/lib/debug")


def need_tool(name: str) -> str:
    """Path of a peer tool; the set-up installs all of them, so a missing one is a failure, not a skip."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"peer tool {name} is not installed (run bash .ci/setup)")
    return path


def run_tool(*argv: str, input: str | None = None) -> str:
    return subprocess.run(argv, input=input, capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


def pytest_configure(config):
    # Test helpers next to the tests (llvm_peer.py, ...) import as plain modules.  Appended, not
    # prepended: tests/formats must never shadow the real `formats` package.
    import sys

    for sub in ("", "unwind"):
        path = str(ROOT / "tests" / sub)
        if path not in sys.path:
            sys.path.append(path)
