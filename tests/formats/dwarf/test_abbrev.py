"""Abbreviation tables vs llvm-dwarfdump --debug-abbrev, and corrupt tables."""

from __future__ import annotations

import re
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import LIBSTDCXX_DBG, PYTHON_DBG, need_tool
from formats.dwarf.abbrev import parse_abbrev_table
from formats.dwarf.constants import DW_AT, DW_FORM, DW_TAG
from formats.elf import ElfFile
from formats.errors import FormatError


def _name(enum, prefix: str, value: int) -> str:
    try:
        return prefix + enum(value).name.rstrip("_")
    except ValueError:
        return f"{prefix}unknown_{value:x}"


def _render(table) -> list[str]:
    """The table in llvm-dwarfdump's layout (implicit_const values included)."""
    lines = []
    for ab in table.values():
        children = "yes" if ab.has_children else "no"
        lines.append(f"[{ab.code}] {_name(DW_TAG, 'DW_TAG_', ab.tag)}\tDW_CHILDREN_{children}")
        for spec in ab.attrs:
            line = f"\t{_name(DW_AT, 'DW_AT_', spec.attr)}\t{_name(DW_FORM, 'DW_FORM_', spec.form)}"
            if spec.form == DW_FORM.implicit_const:
                line += f"\t{spec.implicit}"
            lines.append(line)
    return lines


@pytest.mark.parametrize("binary", [PYTHON_DBG, LIBSTDCXX_DBG])
def test_tables_match_llvm_dwarfdump(binary):
    text = subprocess.run([need_tool("llvm-dwarfdump"), "--debug-abbrev", str(binary)],
                          capture_output=True, text=True, check=True).stdout
    data = ElfFile(binary).section_bytes(".debug_abbrev")
    chunks = re.split(r"^Abbrev table for offset: (0x[0-9a-f]+)\n", text, flags=re.M)[1:]
    assert len(chunks) > 100
    for offset, body in zip(chunks[::2], chunks[1::2]):
        want = [line for line in body.splitlines() if line.strip()]
        assert _render(parse_abbrev_table(data, int(offset, 16))) == want, offset


@given(st.binary(max_size=120), st.integers(0, 130))
def test_random_bytes_give_a_table_or_format_error(data, offset):
    try:
        table = parse_abbrev_table(data, offset)
    except FormatError:
        return
    assert all(code > 0 for code in table)
