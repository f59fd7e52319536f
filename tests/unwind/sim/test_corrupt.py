"""Corrupted executables: a typed UnwindError or a run that ends with a report, never another exception or a hang."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import ROOT
from formats.errors import UnwindError
from unwind.sim.machine import Process

ORIGINAL = (ROOT / "corpus" / "bin" / "frames-musl-static-O2-fp").read_bytes()
HEADERS = 0x1000  # ELF header, program headers and the first code: where corruption changes loading


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, HEADERS - 1), st.integers(0, 255)), min_size=1, max_size=8))
def test_corrupted_binary_never_crashes_the_emulator(tmp_path, edits):
    data = bytearray(ORIGINAL)
    for offset, value in edits:
        data[offset] = value
    path = tmp_path / "corrupt"
    path.write_bytes(bytes(data))
    try:
        proc = Process(str(path))
    except UnwindError:
        return
    report = proc.run(chunk=100_000, limit=300_000)
    assert report.exit_code is not None or report.fault is not None or proc.icount >= 300_000


def test_truncated_binary_is_a_typed_error(tmp_path):
    for size in (0, 10, 64, 200, 0x300):
        path = tmp_path / f"cut{size}"
        path.write_bytes(ORIGINAL[:size])
        try:
            Process(str(path))
        except UnwindError:
            continue
        raise AssertionError(f"{size}-byte prefix loaded")
