"""Memory and time bounds on hostile input: no command uses more than max(256 MiB, 20 x input size).

Each command runs in a fresh child of a fresh Python, which then reports its children's peak RSS
(resource.getrusage(RUSAGE_CHILDREN)): so the figure is the command's own, not this test
process's or an earlier child's.  The inputs are real files made hostile: a gcc-built program
whose compressed debug section is replaced by a 512 MiB zlib bomb (declaring its size honestly,
and lying about it), and folded stack text with a count of 2^31.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

from conftest import ROOT, need_tool
from formats.elf import SHF_COMPRESSED, ElfFile

MEMORY_FLOOR = 256 << 20
SECONDS = 60
_MEASURE = """
import json, resource, subprocess, sys, time
started = time.monotonic()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(json.dumps({"code": done.returncode, "stderr": done.stderr, "seconds": time.monotonic() - started,
                  "peak": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024}))
"""


def measured(*argv: str) -> dict:
    out = subprocess.run([sys.executable, "-c", _MEASURE, sys.executable, "-m", "unwind", *argv],
                         capture_output=True, text=True, check=True, cwd=ROOT, timeout=SECONDS * 2).stdout
    return json.loads(out)


def assert_bounded(result: dict, input_size: int) -> None:
    assert result["code"] in (0, 1), result["stderr"]
    assert "internal error" not in result["stderr"]
    assert len(result["stderr"].strip().splitlines()) <= 1, result["stderr"]
    assert result["peak"] < max(MEMORY_FLOOR, 20 * input_size), result
    assert result["seconds"] < SECONDS, result


def _bomb(size: int) -> bytes:
    engine = zlib.compressobj(9)
    chunk = bytes(1 << 20)
    return b"".join(engine.compress(chunk) for _ in range(size >> 20)) + engine.flush()


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> dict[str, Path]:
    """A real program with its first compressed section swapped for a 512 MiB zlib bomb."""
    work = tmp_path_factory.mktemp("bounds")
    (work / "p.c").write_text("#include <stdio.h>\nint main(void) { puts(\"hi\"); return 0; }\n")
    subprocess.run([need_tool("gcc"), "-g3", str(work / "p.c"), "-o", str(work / "plain")], check=True)
    subprocess.run([need_tool("objcopy"), "--compress-debug-sections=zlib", str(work / "plain"), str(work / "z")],
                   check=True)
    elf = ElfFile(work / "z")
    target = next(s for s in elf.sections if s.flags & SHF_COMPRESSED)
    payload = _bomb(512 << 20)
    out = {}
    for name, declared in (("honest", 512 << 20), ("lying", 4096)):
        data = bytearray((work / "z").read_bytes())
        at = len(data)
        data += struct.pack("<IIQQ", 1, 0, declared, 1) + payload  # Elf64_Chdr: zlib, size, alignment
        header = elf._shoff + target.index * 64  # Elf64_Shdr: sh_offset at +24, sh_size at +32
        struct.pack_into("<QQ", data, header + 24, at, len(data) - at)
        out[name] = work / name
        out[name].write_bytes(bytes(data))
    return out


@pytest.mark.parametrize("kind", ["honest", "lying"])
def test_decompression_bomb_is_refused_within_bounds(bombs, kind):
    path = bombs[kind]
    for argv in (["symbolize", "--obj", str(path), "0x1139"], ["dump-cfi", str(path)]):
        result = measured(*argv)
        assert_bounded(result, path.stat().st_size)
    result = measured("symbolize", "--obj", str(path), "0x1139")
    # llvm-symbolizer's shape: the error goes to stderr and the address still gets its (empty) answer.
    assert "declares" in result["stderr"] or "inflate" in result["stderr"] or result["code"] == 0


@pytest.mark.parametrize("fmt", ["folded", "pprof", "speedscope", "perf-script"])
def test_huge_folded_count_is_bounded(tmp_path, fmt):
    """A raw stack's count is a weight: folded prints it back, pprof makes it the sample's value, speedscope
    its weight (no expansion anywhere); perf-script, which prints one event per sample, refuses more
    than 4M samples with a typed error."""
    stacks = tmp_path / "huge.folded"
    stacks.write_text("bash;main;work 2147483648\nbash;main 3\n")
    out = tmp_path / "out"
    result = measured("stacks", str(stacks), "--format", fmt, "--kallsyms", "/dev/null", "-o", str(out))
    assert_bounded(result, stacks.stat().st_size)
    if fmt == "perf-script":
        assert result["code"] == 1 and "4000000" in result["stderr"]
        return
    assert result["code"] == 0, result["stderr"]
    if fmt == "folded":
        assert "2147483648" in out.read_text()
    elif fmt == "pprof":
        from formats.pprof import parse_pprof

        assert sorted(s.value[0] for s in parse_pprof(out.read_bytes()).sample) == [3, 2147483648]
    else:
        import json

        assert sorted(w for p in json.loads(out.read_text())["profiles"] for w in p["weights"]) == [3, 2147483648]


def test_expression_loop_stops_in_time():
    """DW_OP_skip -3 jumps to itself: the evaluator's step bound ends it with a typed error."""
    from unwind.dwarfexpr import ExpressionError, evaluate

    started = time.monotonic()
    with pytest.raises(ExpressionError):
        evaluate(bytes([0x2F, 0xFD, 0xFF]), {}, None)
    assert time.monotonic() - started < 5
