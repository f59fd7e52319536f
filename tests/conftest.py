"""Shared fixtures: paths of the real Debian binaries the tests compare against."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Tests run offline: a login shell's DEBUGINFOD_URLS (Debian's libdebuginfod-common sets one) would send
# us and the peers (llvm-symbolizer 14, eu-* tools) to the network for every stripped binary.
os.environ.pop("DEBUGINFOD_URLS", None)
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


def load_helper(relative: str, name: str):
    """A helper script under tests/ (tests/data/* are plain folders, not packages), imported once by path."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / relative)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def cores_helpers():
    """tests/data/core/cores.py: the parked-threads program, its builds, gcore and gdb helpers."""
    return load_helper("data/core/cores.py", "unwind_test_cores")


def orc_fixtures():
    """tests/data/orc/fixtures.py: Debian kernel modules and objtool-processed user programs."""
    return load_helper("data/orc/fixtures.py", "orc_fixtures")


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """The core test program in every build, made once per session."""
    return cores_helpers().build(str(tmp_path_factory.getbasetemp() / "cores"))


def pytest_configure(config):
    # Test helpers next to the tests (llvm_peer.py, ...) import as plain modules.  Appended, not
    # prepended: tests/formats must never shadow the real `formats` package.
    import sys

    for sub in ("", "unwind"):
        path = str(ROOT / "tests" / sub)
        if path not in sys.path:
            sys.path.append(path)
