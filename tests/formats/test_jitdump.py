"""formats.jitdump on a real file: node --perf-prof writes jit-PID.dump and, with --perf-basic-prof, the
perf map of the same code; every code load parsed must be a map line with the same address, size and name."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import need_tool

from formats.elf import ElfFile
from formats.errors import FormatError
from formats.jitdump import parse_jitdump
from formats.perfmap import parse_perf_map


def test_code_loads_equal_nodes_perf_map(tmp_path):
    run = subprocess.run([need_tool("node"), "--perf-prof", "--perf-basic-prof", "-e",
                          "function f(n) { return n < 2 ? n : f(n - 1) + f(n - 2) } f(22)"],
                         cwd=tmp_path, check=True, capture_output=True)
    assert run.returncode == 0
    (dump_path,) = tmp_path.glob("jit-*.dump")
    dump = parse_jitdump(dump_path.read_bytes(), str(dump_path))
    perf_map = Path(f"/tmp/perf-{dump.pid}.map")
    try:
        entries = {(e.start, e.size): e.name for e in parse_perf_map(perf_map.read_bytes())}
    finally:
        perf_map.unlink(missing_ok=True)
    assert dump_path.name == f"jit-{dump.pid}.dump" and len(dump.code) > 1000
    assert all(entries.get((c.address, c.size)) == c.name for c in dump.code)
    assert any(c.name.startswith("JS:") and " [eval]:1:" in c.name for c in dump.code)
    # the code bytes: every load carries them; V8's builtins are node's own .text (their addresses are node's
    # ELF virtual addresses, node being non-PIE), so their bytes must be node's bytes there
    assert all(len(c.code) == c.size for c in dump.code)
    node = ElfFile(need_tool("node"))
    builtins = [c for c in dump.code if c.name.startswith("Builtin:")]
    assert len(builtins) > 100 and all(node.read_vaddr(c.address, c.size) == c.code for c in builtins)
    # a dump cut in the middle of a record (the JIT still writing) ends quietly before it
    cut = parse_jitdump(dump_path.read_bytes()[:-3], str(dump_path))
    assert cut.code == dump.code[:len(cut.code)] and len(cut.code) >= len(dump.code) - 1
    with pytest.raises(FormatError, match="not a jitdump"):
        parse_jitdump(b"\0" * 64, "x.dump")
