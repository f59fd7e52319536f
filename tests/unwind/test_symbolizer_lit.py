"""Cases found by bench/llvm_lit.py (LLVM's own llvm-symbolizer tests), rebuilt here with real toolchains
and answered by llvm-symbolizer 14 in the test: our `unwind symbolize` must print the same bytes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import need_tool
from llvm_peer import cache_env, run

UNWIND = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "unwind")

# A source whose #line directive names the file "<invalid>", LLVM's DILineInfo::BadString: with the
# compilation directory mapped away, the line table's file name is exactly that string.
BAD_NAME_SOURCE = '#line 1 "<invalid>"\nstatic int foo(int x){return x*3;}\nint main(int c,char**v){return foo(c);}\n'


def _same_as_llvm(obj: Path, args: list[str], tmp_path: Path) -> str:
    env = cache_env(tmp_path / "cache")
    theirs = run([need_tool("llvm-symbolizer-14"), f"--obj={obj}", *args], env=env)
    ours = run([UNWIND, "symbolize", f"--obj={obj}", *args], env=env)
    assert (ours.returncode, ours.stdout, ours.stderr) == (theirs.returncode, theirs.stdout, theirs.stderr)
    return theirs.stdout


@pytest.mark.parametrize("compiler", ["gcc", "clang-14"])
@pytest.mark.parametrize("style", ["--output-style=LLVM", "--output-style=GNU", "--output-style=JSON", "--verbose"])
def test_bad_string_file_name_takes_the_stt_file_name(compiler, style, tmp_path):
    """LLVM 14 replaces a line-table file name equal to "<invalid>" by the local symbol's STT_FILE name
    (lit: debug-info-line-info.yaml, use-debug-info-line-info.s)."""
    need_tool(compiler)
    source = tmp_path / "t.c"
    source.write_text(BAD_NAME_SOURCE)
    obj = tmp_path / "t.o"
    subprocess.run([compiler, "-g", "-gdwarf-4", "-O0", "-c", f"-fdebug-prefix-map={tmp_path}=", str(source),
                    "-o", str(obj)], check=True, cwd=tmp_path)
    nm = run(["nm", str(obj)]).stdout.split("\n")
    foo = next(int(line.split()[0], 16) for line in nm if line.endswith(" foo"))
    out = _same_as_llvm(obj, [style, f"0x{foo + 4:x}"], tmp_path)
    assert "t.c" in out  # the peer itself took the STT_FILE name: the case is exercised


@pytest.mark.parametrize("style", ["--output-style=LLVM", "--output-style=GNU", "--output-style=JSON"])
def test_source_context_from_embedded_source(style, tmp_path):
    """clang -gembed-source puts the file's text in the DWARF 5 line table (DW_LNCT_LLVM_source); LLVM 14
    prints the context from it, not from the disk, whose copy here was changed after the build
    (lit: source.ll)."""
    source = tmp_path / "embedded.c"
    source.write_text("// Line 1\n// Line 2\nint foo(int x) { return x + 1; }\n// Line 4\n// Line 5\n")
    obj = tmp_path / "embedded.o"
    subprocess.run([need_tool("clang-14"), "-gdwarf-5", "-gembed-source", "-O0", "-c", str(source), "-o", str(obj)],
                   check=True, cwd=tmp_path)
    source.write_text("changed on disk\n" * 5)
    out = _same_as_llvm(obj, [style, "--print-source-context-lines=3", "0x4"], tmp_path)
    assert "int foo(int x)" in out  # the peer read the embedded copy: the case is exercised
