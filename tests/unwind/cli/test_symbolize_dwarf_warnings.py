"""llvm-symbolizer 14's DWARF warnings on stderr: a unit whose children are not closed before the unit ends.

LLVM warns `DWARF unit from offset X incl. to offset Y excl. tries to read DIEs at offset Y` once per
unit, when a CODE or FRAME request first reads that unit's DIEs (DATA requests read none).  The object
is assembled here (llvm-mc) from hand-written DWARF 4: unit 1 ends right after its subprogram, with
no null entry closing the unit DIE's children; unit 2 is well formed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import need_tool
from llvm_peer import cache_env, run

UNWIND = [sys.executable, "-m", "unwind", "symbolize"]

ASSEMBLY = r"""
    .text
    .globl first, second
first:  nop
        ret
second: nop
        ret

    .section .debug_abbrev,"",@progbits
    .byte 1, 0x11, 1          # 1: DW_TAG_compile_unit, has children
    .byte 0x03, 0x08          #   DW_AT_name, DW_FORM_string
    .byte 0x1b, 0x08          #   DW_AT_comp_dir, DW_FORM_string
    .byte 0x10, 0x17          #   DW_AT_stmt_list, DW_FORM_sec_offset
    .byte 0x11, 0x01          #   DW_AT_low_pc, DW_FORM_addr
    .byte 0x12, 0x06          #   DW_AT_high_pc, DW_FORM_data4
    .byte 0, 0
    .byte 2, 0x2e, 0          # 2: DW_TAG_subprogram, no children
    .byte 0x03, 0x08          #   DW_AT_name, DW_FORM_string
    .byte 0x11, 0x01          #   DW_AT_low_pc, DW_FORM_addr
    .byte 0x12, 0x06          #   DW_AT_high_pc, DW_FORM_data4
    .byte 0, 0
    .byte 0

    .section .debug_info,"",@progbits
    .long .Lu1_end - .Lu1_start         # unit 1: children never closed
.Lu1_start:
    .short 4                            # version
    .long .debug_abbrev                 # abbreviations
    .byte 8                             # address size
    .byte 1                             # DW_TAG_compile_unit
    .asciz "one.c"
    .asciz "/src/dir"
    .long .Lline
    .quad first
    .long 2
    .byte 2                             # DW_TAG_subprogram
    .asciz "first"
    .quad first
    .long 2
.Lu1_end:
    .long .Lu2_end - .Lu2_start         # unit 2: closed by a null entry
.Lu2_start:
    .short 4
    .long .debug_abbrev
    .byte 8
    .byte 1
    .asciz "two.c"
    .asciz "/src/dir"
    .long .Lline
    .quad second
    .long 2
    .byte 2
    .asciz "second"
    .quad second
    .long 2
    .byte 0                             # end of the unit DIE's children
.Lu2_end:

    .section .debug_line,"",@progbits
.Lline:
    .long .Lline_end - .Lline_start
.Lline_start:
    .short 4                            # version
    .long .Lheader_end - .Lheader_start
.Lheader_start:
    .byte 1, 1, 1                       # min instruction length, max ops, default is_stmt
    .byte -5, 14, 13                    # line base, line range, opcode base
    .byte 0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1
    .asciz "sub"                        # include directory 1
    .byte 0
    .asciz "one.c"                      # file 1, in directory 1
    .byte 1, 0, 0
    .byte 0
.Lheader_end:
    .byte 0, 9, 2                       # DW_LNE_set_address
    .quad first
    .byte 0x14                          # line 3, address +0
    .byte 2, 4                          # advance pc 4
    .byte 0, 1, 1                       # DW_LNE_end_sequence
.Lline_end:
"""


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    need_tool("llvm-mc")
    root = tmp_path_factory.mktemp("dwarf-warnings")
    (root / "w.s").write_text(ASSEMBLY)
    subprocess.run(["llvm-mc", "-filetype=obj", "-triple=x86_64-pc-linux", "w.s", "-o", "w.o"], cwd=root,
                   check=True)
    return root


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict:
    return cache_env(tmp_path_factory.mktemp("cache"))


@pytest.mark.parametrize("argv, stdin", [
    (["0x0"], None),
    (["0x0", "0x1", "0x2", "0x3"], None),  # once per unit, however many requests read it
    (["0x2", "0x3"], None),  # the well-formed unit: no warning
    (["--relativenames", "0x0"], None),
    (["--basenames", "--output-style=JSON", "0x0", "0x1"], None),
    (["--no-inlines", "--functions=none", "0x1"], None),
    ([], "DATA 0x0\n"),  # DATA reads no DIEs: no warning
    ([], "FRAME 0x0\nFRAME 0x1\n0x1\n"),
], ids=lambda value: " ".join(value) if isinstance(value, list) else repr(value))
def test_unclosed_unit_warns_as_llvm_symbolizer(work, env, argv, stdin):
    need_tool("llvm-symbolizer")
    command = ["--obj=w.o", *argv]
    theirs = run(["llvm-symbolizer", *command], stdin, env, work)
    ours = run([*UNWIND, *command], stdin, env, work)
    assert (ours.stdout, ours.stderr, ours.returncode) == (theirs.stdout, theirs.stderr, theirs.returncode)
    if argv[:1] == ["0x0"]:
        assert theirs.stderr.startswith("warning: DWARF unit from offset 0x00000000 incl.")
