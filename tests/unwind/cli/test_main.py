"""unwind/cli/__init__.py: the help formatter's width is shutil's, without importing shutil on every run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from unwind.cli import _columns


@pytest.mark.parametrize("columns", ["", "60", "200", "abc", "-5", "0", " 7"])
def test_width_is_shutils(monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", columns)
    monkeypatch.delenv("LINES", raising=False)
    assert _columns() == shutil.get_terminal_size().columns


@pytest.mark.parametrize("columns", ["", "60", "200"])
def test_help_lines_fit_the_width(columns):
    env = dict(os.environ, COLUMNS=columns)
    text = subprocess.run([sys.executable, "-m", "unwind", "--help"], capture_output=True, text=True, check=True,
                          env=env, stdin=subprocess.DEVNULL).stdout
    width = int(columns) if columns else 80
    assert max(len(line) for line in text.splitlines()) <= width - 2
