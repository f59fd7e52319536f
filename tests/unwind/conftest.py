"""Fixtures shared by tests/unwind and tests/unwind/cli."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def report_recordings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """tests/unwind/report_peer.py's programs recorded with perf (C with dwarf and -g, threads, python3.11)."""
    from report_peer import record_all

    if shutil.which("perf") is None:
        pytest.fail("perf is not installed (run bash .ci/setup)")
    return record_all(tmp_path_factory.mktemp("report"))
