"""Held-out-style builds (corpus/symbolize_builds.py) answered as llvm-symbolizer answers the reference build."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from corpus import symbolize_builds as builds

pytestmark = pytest.mark.skipif(shutil.which("llvm-symbolizer") is None, reason="llvm-symbolizer missing")


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("symbolize-builds")


@pytest.mark.parametrize("compiler, sources", [("gcc", builds.C), ("g++", builds.CXX), ("clang-14", builds.C)])
def test_lto_start_file_from_declaring_unit(build_dir, compiler, sources, monkeypatch, tmp_path):
    """-flto: inline origins sit in other units; StartFileName comes from the declaring unit's file table."""
    monkeypatch.setenv("UNWIND_CACHE_DIR", str(tmp_path))
    link = ["-fuse-ld=lld"] if compiler.startswith("clang") else []
    prog = builds.compile_c(build_dir, f"lto-{compiler}", compiler, sources, ["-O2", "-g", "-flto"], link)
    same, total, diffs = builds.score(builds.Variant("lto", prog, prog), 150)
    assert total > 100
    assert same == total, diffs[:3]
