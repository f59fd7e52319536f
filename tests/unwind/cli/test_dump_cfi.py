"""`unwind dump-cfi`: text equals readelf on a compiled object, the JSON shape, errors on bad input."""

from __future__ import annotations

import sys
from pathlib import Path

# tests/conftest.py puts tests/ and tests/unwind on sys.path ahead of the repository, so `unwind`,
# `formats.cfi` and `unwind.cli` can resolve to the namespace folders of the tests; put the real
# packages first and drop namespace stand-ins (real modules keep their identity).
_ROOT = str(Path(__file__).resolve().parents[3])
if sys.path[0] != _ROOT:
    sys.path.insert(0, _ROOT)
for _name in [n for n, m in list(sys.modules.items())
              if n.split(".")[0] in ("unwind", "formats") and getattr(m, "__file__", None) is None]:
    del sys.modules[_name]

import json
import os
import subprocess

from conftest import LIBC, need_tool, run_tool

UNWIND = [sys.executable, "-m", "unwind", "dump-cfi"]
SOURCE = "int g(int);\nint f(int x) { return g(x) * 3 + g(x + 1); }\nint main(void) { return f(2); }\nint g(int x) { return x; }\n"


def build(tmp_path, *flags):
    src = tmp_path / "p.c"
    src.write_text(SOURCE)
    exe = tmp_path / "p"
    run_tool(need_tool("gcc"), *flags, "-o", str(exe), str(src))
    return exe


def test_text_equals_readelf_for_eh_frame_and_debug_frame(tmp_path):
    for flags in (["-O2"], ["-O1", "-fno-asynchronous-unwind-tables", "-g"]):
        exe = build(tmp_path, *flags)
        ours = subprocess.run(UNWIND + [str(exe)], capture_output=True, text=True, check=True).stdout
        assert ours == run_tool(need_tool("readelf"), "--debug-dump=frames-interp", str(exe))


def test_json_shape(tmp_path):
    exe = build(tmp_path, "-O2")
    out = subprocess.run(UNWIND + ["--format", "json", str(exe)], capture_output=True, text=True, check=True).stdout
    doc = json.loads(out)
    assert doc["file"] == str(exe)
    (section,) = doc["sections"]
    assert section["name"] == ".eh_frame"
    kinds = {e["type"] for e in section["entries"]}
    assert kinds == {"CIE", "FDE", "terminator"}
    readelf = run_tool(need_tool("readelf"), "--debug-dump=frames-interp", str(exe))
    fdes = [e for e in section["entries"] if e["type"] == "FDE"]
    assert len(fdes) == readelf.count(" FDE cie=")
    for fde in fdes:
        assert set(fde) >= {"offset", "length", "cie", "pc_begin", "pc_end", "columns", "rows"}
        header = f"{fde['offset']:08x} "
        line = next(l for l in readelf.splitlines() if l.startswith(header))
        assert line.endswith(f"pc={int(fde['pc_begin'], 16):016x}..{int(fde['pc_end'], 16):016x}")
        for row in fde["rows"]:
            assert set(row) == {"loc", "cfa", "regs"} and set(row["regs"]) == set(fde["columns"])
            assert f"{int(row['loc'], 16):016x} {row['cfa']:<8} " in readelf


def test_bad_input_is_one_line_and_exit_1(tmp_path):
    junk = tmp_path / "junk"
    junk.write_bytes(b"definitely not ELF")
    proc = subprocess.run(UNWIND + [str(junk)], capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and "junk" in proc.stderr
    missing = subprocess.run(UNWIND + [str(tmp_path / "nope")], capture_output=True, text=True)
    assert missing.returncode == 1 and len(missing.stderr.splitlines()) == 1


def test_corrupt_eh_frame_names_file_and_offset(tmp_path):
    exe = build(tmp_path, "-O2")
    data = bytearray(exe.read_bytes())
    line = run_tool(need_tool("readelf"), "-SW", str(exe))
    eh = next(l for l in line.splitlines() if " .eh_frame " in l).split()
    offset = int(eh[eh.index(".eh_frame") + 3], 16)
    data[offset + 4 + 4 + 0] = 9  # the first CIE's version byte: 9 is not a CIE version
    bad = tmp_path / "bad"
    bad.write_bytes(bytes(data))
    proc = subprocess.run(UNWIND + [str(bad)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert str(bad) in proc.stderr and "version" in proc.stderr and "+0x0" in proc.stderr


def test_separate_debug_file_notice_for_libc():
    """readelf follows libc's build-id debug file (its .eh_frame is NOBITS) and says so last."""
    ours = subprocess.run(UNWIND + [str(LIBC)], capture_output=True, text=True, check=True).stdout
    assert ours.startswith(f"Contents of the .eh_frame section (loaded from {LIBC}):")
    assert ours.endswith("section '.eh_frame' has the NOBITS type - its contents are unreliable.\n")


def test_go_binary_compressed_debug_frame(tmp_path):
    """Go's linker writes only a zlib-compressed (SHF_COMPRESSED) .debug_frame with data factor -4."""
    (tmp_path / "main.go").write_text('package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hi") }\n')
    env = dict(os.environ, GOCACHE=str(tmp_path / "cache"), GOPATH=str(tmp_path / "gopath"), GO111MODULE="off",
               GOFLAGS="")
    exe = tmp_path / "hello"
    subprocess.run([need_tool("go"), "build", "-o", str(exe), "main.go"], cwd=tmp_path, env=env, check=True,
                   capture_output=True)
    expected = run_tool(need_tool("readelf"), "--debug-dump=frames-interp", str(exe))
    assert "Contents of the .debug_frame section" in expected and "df=-4" in expected
    ours = subprocess.run(UNWIND + [str(exe)], capture_output=True, text=True, check=True).stdout
    assert ours == expected
