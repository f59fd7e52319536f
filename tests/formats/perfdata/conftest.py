"""Real perf recordings of a small C loop, made once per session, shared by the perf.data tests."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

# tests/ on sys.path (root conftest) makes `formats` resolve to the namespace tests/formats, which
# shadows formats.perfdata: put the repository first and load the real packages before anything else.
_ROOT, _HERE = Path(__file__).resolve().parents[3], Path(__file__).resolve().parents[1]
for _path in (str(_HERE), str(_ROOT)):
    if _path in sys.path:
        sys.path.remove(_path)
    sys.path.insert(0, _path)
if "formats" in sys.modules and getattr(sys.modules["formats"], "__file__", None) is None:
    for _name in [m for m in sys.modules if m == "formats" or m.startswith("formats.")]:
        del sys.modules[_name]

import formats.perfdata  # noqa: E402,F401
from perfdata.perf_peer import build_loop, record  # noqa: E402


@pytest.fixture(scope="session")
def perf_dir(tmp_path_factory) -> Path:
    if shutil.which("perf") is None:
        pytest.fail("peer tool perf is not installed (run bash .ci/setup)")
    return tmp_path_factory.mktemp("perfdata")


@pytest.fixture(scope="session")
def loop_exe(perf_dir) -> Path:
    return build_loop(perf_dir)


@pytest.fixture(scope="session")
def dwarf_data(perf_dir, loop_exe) -> Path:
    """--call-graph dwarf: REGS_USER + 8 KiB STACK_USER per sample."""
    return record(perf_dir / "dwarf.data", [str(loop_exe), "1500"], "--call-graph", "dwarf,8192")


@pytest.fixture(scope="session")
def fp_data(perf_dir, loop_exe) -> Path:
    """-g: frame-pointer callchains with kernel and user parts."""
    return record(perf_dir / "fp.data", [str(loop_exe), "1500"], "-g")


@pytest.fixture(scope="session")
def pipe_data(perf_dir, loop_exe) -> Path:
    """perf record -o - : pipe mode (HEADER_ATTR / HEADER_FEATURE records)."""
    return record(perf_dir / "pipe.data", [str(loop_exe), "1500"], "-g", pipe=True)


@pytest.fixture(scope="session")
def zstd_data(perf_dir, loop_exe) -> Path:
    """perf record -z: the data section is PERF_RECORD_COMPRESSED records of one zstd stream."""
    return record(perf_dir / "zstd.data", [str(loop_exe), "1500"], "-z", "-g")
