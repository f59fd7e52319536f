"""perf's function names (unwind.symtable.perf_name_table) where a label lies inside a sized function."""

from __future__ import annotations

import bisect
import re
import subprocess

from conftest import need_tool

from formats.elf import ElfFile
from formats.symtab import SymbolType, read_symbols
from unwind.symtable import perf_name_table


def test_labels_inside_sized_functions_name_the_function_as_gdb_does():
    """node's .symtab has zero-size NOTYPE labels inside sized functions (V8's construct_stub_*_deopt_addr in
    Builtins_JSConstructStubGeneric, OpenSSL's asm labels): an address after such a label is named by the
    function, as gdb's `info symbol` names it (and as perf script printed return addresses there)."""
    node = need_tool("node")
    elf = ElfFile(node)
    symbols = read_symbols(elf, ".symtab")
    funcs = sorted((s.value, s.value + s.size) for s in symbols if s.type == SymbolType.FUNC and s.size)

    def inside(value: int) -> bool:
        i = bisect.bisect(funcs, (value, 1 << 64)) - 1
        return i >= 0 and funcs[i][0] < value < funcs[i][1]

    labels = [s for s in symbols if s.type == SymbolType.NOTYPE and not s.size and s.name and s.is_defined_in_section
              and inside(s.value)]
    assert len(labels) >= 4 and "construct_stub_create_deopt_addr" in {s.name for s in labels}
    table = perf_name_table(elf)
    starts = [entry[0] for entry in table]
    commands = []
    for label in labels:
        commands += ["-ex", f"info symbol {label.value + 1:#x}"]
    gdb = subprocess.run([need_tool("gdb"), "-batch", "-nx", *commands, node], capture_output=True, text=True).stdout
    names = re.findall(r"^(\S+) \+ \d+ in section", gdb, re.MULTILINE)
    assert len(names) == len(labels)
    for label, name in zip(labels, names):
        start, size, ours, _ = table[bisect.bisect_right(starts, label.value + 1) - 1]
        assert start <= label.value + 1 < start + size and ours == name, (label.name, ours, name)
