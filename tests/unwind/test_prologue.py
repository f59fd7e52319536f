"""unwind.prologue.plt_rule: the CFA inside PLT stubs, against the CFI GNU ld and gold write for their own .plt,
.plt.sec and .plt.got, on every stub instruction of real files; lld's and mold's stubs (no CFI) against the
same peers' rows for the same instruction at the same stub offset."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest
from conftest import need_tool

from formats.elf import ElfFile
from unwind.cfi_tables import CfiCache
from unwind.prologue import PLT_SECTIONS, _disasm, plt_rule
from unwind.rules import RIP, RSP

PROGRAM = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
    char *p = malloc(64);
    strcpy(p, argv[0]);
    printf("%zu %s\n", strlen(p), getenv("HOME") ? "home" : "none");
    free(p);
    return atoi(argc > 1 ? argv[1] : "0");
}
"""
STACK = 0x7FFF_F000


def stub_instructions(elf: ElfFile):
    """(section, address, mnemonic) of every instruction in the file's PLT sections."""
    for sec in elf.sections:
        if sec.name in PLT_SECTIONS and sec.size:
            for address, _size, mnemonic, _ops in _disasm.disasm_lite(elf.read_vaddr(sec.addr, sec.size), sec.addr):
                yield sec, address, mnemonic


def cfa_offset(rule, address: int) -> int | None:
    """The rule's CFA minus rsp, at `address` (GNU ld's PLT entries use a DW_OP expression of rip)."""
    if rule is None:
        return None
    cfa = rule.cfa.compute({RSP: STACK, RIP: address}, None)
    return None if cfa is None else cfa - STACK


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> dict[str, Path]:
    """The program linked by each linker; GNU ld also with IBT's second PLT (-z ibtplt: .plt.sec)."""
    need_tool("gcc")
    tmp = tmp_path_factory.mktemp("plt")
    src = tmp / "plt.c"
    src.write_text(PROGRAM)
    flags = {"bfd": ["-fuse-ld=bfd"], "bfd-ibt": ["-fuse-ld=bfd", "-fcf-protection", "-Wl,-z,ibtplt"],
             "gold": ["-fuse-ld=gold"], "lld": ["-fuse-ld=lld"], "mold": ["-fuse-ld=mold"],
             "bfd-static": ["-fuse-ld=bfd", "-static"], "lld-static": ["-fuse-ld=lld", "-static"]}
    out = {}
    for name, extra in flags.items():
        exe = tmp / name
        compiler = "clang-14" if name.startswith(("lld", "mold")) else "gcc"
        need_tool(compiler)
        subprocess.run([compiler, "-O2", *extra, str(src), "-o", str(exe)], check=True, capture_output=True)
        out[name] = exe
    return out


@pytest.mark.parametrize("name", ["bfd", "bfd-ibt", "gold", "/usr/bin/python3.11",
                                  "/usr/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libstdc++.so.6"])
def test_plt_rule_equals_the_linkers_own_cfi(builds, name):
    path = builds[name] if name in builds else Path(name)
    elf = ElfFile(str(path))
    table = CfiCache(tempfile.mkdtemp()).get(elf)
    compared = 0
    for sec, address, mnemonic in stub_instructions(elf):
        cfi = table.rule_at(address)
        if cfi is None or mnemonic == "int3":
            continue
        assert cfa_offset(plt_rule(elf, address), address) == cfa_offset(cfi, address), (sec.name, hex(address))
        compared += 1
    if name == "bfd-ibt":
        assert elf.section(".plt.sec") is not None
    assert compared >= 10


@pytest.mark.parametrize("name", ["lld", "mold"])
def test_plt_rule_without_cfi_as_gnu_ld_describes_the_same_stub_code(builds, name):
    """lld writes GNU ld's stubs (`jmp *GOT; push $i; jmp .plt`) and no CFI: at each offset of the header and
    of an entry, the rule is the one GNU ld's CFI gives there. mold's entries only jump (`endbr64; mov $i,
    %r11d; jmp *GOT`: cfa = rsp + 8 throughout); its header pushes r11 and the GOT word (+8, +16)."""
    elf = ElfFile(str(builds[name]))
    table = CfiCache(tempfile.mkdtemp()).get(elf)
    plt = elf.section(".plt")
    assert plt is not None and plt.entsize == 0
    got = {address - plt.addr: cfa_offset(plt_rule(elf, address), address)
           for sec, address, mnemonic in stub_instructions(elf) if sec.name == ".plt" and mnemonic != "int3"}
    assert all(table.rule_at(plt.addr + offset) is None for offset in got)  # no CFI of its own
    if name == "lld":
        gnu = ElfFile(str(builds["bfd"]))
        gnu_table, gnu_plt = CfiCache(tempfile.mkdtemp()).get(gnu), gnu.section(".plt")
        want = {offset: cfa_offset(gnu_table.rule_at(gnu_plt.addr + offset), gnu_plt.addr + offset)
                for offset in got if offset < gnu_plt.size}
        assert want and all(got[offset] == want[offset] for offset in want), (got, want)
        assert [got[o] for o in (0x0, 0x6, 0x10, 0x16, 0x1b)] == [16, 24, 8, 8, 16]
    else:
        assert [got[o] for o in (0x0, 0x4, 0x6, 0xc)] == [8, 8, 16, 24]
        assert {got[o] for o in got if o >= 0x10} == {8}


def test_plt_rule_outside_plt_and_on_missing_bytes(builds):
    elf = ElfFile(str(builds["lld"]))
    assert plt_rule(elf, elf.entry) is None
    plt = elf.section(".plt")
    assert plt_rule(elf, plt.addr + 1) is None  # inside an instruction: no answer
    # A stripped debug file keeps .plt as NOBITS: no bytes, no rule.
    debug = builds["lld"].with_suffix(".debug")
    subprocess.run(["objcopy", "--only-keep-debug", str(builds["lld"]), str(debug)], check=True)
    dbg = ElfFile(str(debug))
    assert dbg.section(".plt") is not None and plt_rule(dbg, plt.addr) is None


@pytest.mark.parametrize("name", ["bfd-static", "lld-static"])
def test_plt_rule_in_static_executables(builds, name):
    """Static executables call IRELATIVE functions (strcmp, memcpy: chosen by CPU) through stubs without CFI:
    GNU ld's .plt of 8-byte `jmp *GOT; xchg %ax,%ax` entries (no header, sh_entsize 0, 8-aligned), lld's
    .iplt of its 16-byte lazy-shaped entries (no header either). Only the `jmp *GOT` runs: cfa = rsp + 8."""
    elf = ElfFile(str(builds[name]))
    table = CfiCache(tempfile.mkdtemp()).get(elf)
    stubs = [(sec, address, mnemonic) for sec, address, mnemonic in stub_instructions(elf) if mnemonic != "int3"]
    assert stubs and all(table.rule_at(address) is None for _, address, _ in stubs)
    for sec, address, mnemonic in stubs:
        offset = cfa_offset(plt_rule(elf, address), address)
        if name == "bfd-static":
            assert (sec.name, offset) == (".plt", 8), (hex(address), mnemonic)
        else:
            assert sec.name == ".iplt" and offset == (16 if mnemonic == "jmp" and (address - sec.addr) % 16 else 8), \
                (hex(address), mnemonic, offset)
