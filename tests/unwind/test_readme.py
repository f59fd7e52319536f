"""README.md's "From Python" block runs as written, on a gzip recording and a core made here."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from conftest import ROOT, need_tool


def test_from_python_examples_run(built, tmp_path):
    need_tool("perf")
    block = re.search(r"## From Python\n.*?```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)[1]
    data = tmp_path / "input"
    data.write_bytes(open("/usr/bin/python3.11d", "rb").read(3_000_000))
    subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", "1000", "--call-graph", "dwarf",
                    "-o", str(tmp_path / "app.perf.data"), "--", "gzip", "-6", "-c", str(data)],
                   check=True, stdout=subprocess.DEVNULL)
    os.symlink(built / "fp.core", tmp_path / "app.core")
    (tmp_path / "example.py").write_text(block)
    out = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "park" in out.stdout and "recurse" in out.stdout  # the core's threads, named
    assert (tmp_path / "app.folded").read_text().startswith("gzip;")
    assert "cfi-tables: " in out.stdout and "elf-files: " in out.stdout  # the Session's cache counters
