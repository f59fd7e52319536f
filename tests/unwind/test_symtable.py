"""Which symbol names an address: perf's table (unwind.symtable.perf_name_table) where a label lies inside a
sized function, and libdwfl's choice (unwind.symtable.LibdwflSymbols) against eu-addr2line -S and eu-stack."""

from __future__ import annotations

import bisect
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import need_tool

from formats.elf import ElfFile, SegmentType
from formats.symtab import SymbolType, read_symbols
from unwind.symtable import LibdwflSymbols, LibdwflSymbolsCache, perf_name_table

DATA = Path(__file__).resolve().parents[1] / "data" / "symbols"
ROOT = Path(__file__).resolve().parents[2]


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


def eu_addr2line_symbols(path: str, addresses: list[int]) -> list[str | None]:
    """eu-addr2line -S's symbol for each address (None for `??` or a bare `(section)+offset`)."""
    out = subprocess.run([need_tool("eu-addr2line"), "-S", "-e", path], input="\n".join(map(hex, addresses)),
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(out) == 2 * len(addresses)  # a symbol line and a source line each
    return [None if line.startswith(("??", "(")) else re.sub(r"\+0x[0-9a-f]+$", "", line) for line in out[0::2]]


def test_every_address_of_hand_written_symbols_as_eu_addr2line(tmp_path):
    """Labels inside and after sized functions, aliases of three bindings and sizes, a weak function nested
    in a global one, a zero-size FUNC, OBJECT and sized NOTYPE symbols in code, two labels at one address,
    an absolute symbol: every byte of .text (and two on each side) gets eu-addr2line -S's name."""
    exe = tmp_path / "labels"
    subprocess.run([need_tool("gcc"), "-no-pie", "-nostartfiles", "-e", "main", "-o", str(exe),
                    str(DATA / "dwfl_labels.s")], check=True)
    elf = ElfFile(str(exe))
    text = elf.section(".text")
    assert text is not None
    addresses = list(range(text.addr - 2, text.addr + text.size + 2))
    symbols = LibdwflSymbols(elf)
    ours = [symbols.name_at(a) for a in addresses]
    assert ours == eu_addr2line_symbols(str(exe), addresses)
    # the cases are there: labels after sized functions, a global label winning over the locals before it,
    # the larger weak alias past the global's end, the global holding a weak nested function winning
    assert {"after_main", "later_global", "alias_weak", "outer", "zero_func"} <= set(ours)
    assert "nested" not in ours and "two_a" not in ours


def _module_addresses(elf: ElfFile, symbols: LibdwflSymbols, count: int, seed: int) -> list[int]:
    """Each symbol's edges (start - 1, start, start + 1, end - 1, end) and random code addresses, inside the
    module's loaded range (eu-addr2line answers `??` outside it, before looking at symbols)."""
    loads = [s for s in elf.segments if s.type == SegmentType.LOAD]
    low, high = min(s.vaddr for s in loads), max(s.vaddr + s.memsz for s in loads)
    rng = random.Random(seed)
    table = symbols.globals.symbols + symbols.locals.symbols
    edges = {a for sym in rng.sample(table, min(count, len(table)))
             for a in (sym.value - 1, sym.value, sym.value + 1, sym.value + sym.size - 1, sym.value + sym.size)}
    code = [s for s in elf.sections if s.flags & 0x4 and s.size]
    randoms = {rng.randrange(s.addr, s.addr + s.size) for s in code for _ in range(count // len(code))}
    return sorted(a for a in edges | randoms if low <= a < high)


@pytest.mark.parametrize("library", ["ld.so", "libc", "libstdc++", "python3.11"])
def test_system_libraries_as_eu_addr2line(library):
    """Debian's binaries with their debug files found by build-id (libc6-dbg, libstdc++6-12-dbg,
    python3.11-dbg): the table is the debug file's .symtab, where ld.so's `_start` is a label and
    python3.11's LTO labels sit in .debug_info (no loaded section: they name only their own address)."""
    path = {"ld.so": "/lib64/ld-linux-x86-64.so.2", "libc": "/lib/x86_64-linux-gnu/libc.so.6",
            "libstdc++": "/lib/x86_64-linux-gnu/libstdc++.so.6", "python3.11": "/usr/bin/python3.11"}[library]
    real = str(Path(path).resolve())
    elf = ElfFile(real)
    symbols = LibdwflSymbolsCache().get(elf, ("/usr/lib/debug",))
    assert len(symbols.globals.symbols) + len(symbols.locals.symbols) > 100, "debug file not found (.ci/setup)"
    addresses = _module_addresses(elf, symbols, 1500, seed=len(library))
    ours = [symbols.name_at(a) for a in addresses]
    theirs = eu_addr2line_symbols(real, addresses)
    differ = [(hex(a), o, t) for a, o, t in zip(addresses, ours, theirs) if o != t]
    assert not differ, differ[:10]
    assert sum(name is not None for name in ours) > len(addresses) // 2


def test_ld_so_start_up_core_names_frames_as_eu_stack(tmp_path):
    """A gcore of /bin/true stopped in the dynamic loader's start-up: its outermost frame is in `_start`, a
    NOTYPE label in ld.so's debug .symtab, which eu-stack prints (and gdb: `#5 _start`)."""
    core = tmp_path / "ldso.core"
    subprocess.run([need_tool("gdb"), "-batch", "-nx", "-ex", "starti", "-ex", "break _dl_relocate_object",
                    "-ex", "continue", "-ex", f"gcore {core}", "/bin/true"], capture_output=True, check=True)
    if not core.exists():
        pytest.fail("gdb wrote no core")
    ours = subprocess.run([sys.executable, "-m", "unwind", "core", str(core), "--exe", "/bin/true"],
                          capture_output=True, text=True, cwd=ROOT)
    assert ours.returncode == 0, ours.stderr
    theirs = subprocess.run([need_tool("eu-stack"), "--core", str(core), "-e", "/bin/true"],
                            capture_output=True, text=True).stdout
    assert ours.stdout == theirs
    assert re.search(r"_dl_relocate_object\n.*\n.*\n.*\n#\d+ +0x[0-9a-f]+ _start\n", ours.stdout), ours.stdout


def test_corrupt_minidebuginfo_is_no_table_as_libdwfl_reads_it(tmp_path):
    """A stripped binary whose .gnu_debugdata is not xz: libdwfl goes on with .dynsym alone, and so do we
    (reading it used to raise out of the namer of `unwind core`)."""
    source = tmp_path / "a.c"
    source.write_text("int f(void) { return 1; }\nint main(void) { return f(); }\n")
    exe = tmp_path / "a"
    subprocess.run([need_tool("gcc"), "-O1", "-o", str(exe), str(source)], check=True)
    junk = tmp_path / "junk"
    junk.write_bytes(b"\xfd7zXZ\x00" + b"\x01" * 100)
    stripped = tmp_path / "a.stripped"
    subprocess.run([need_tool("objcopy"), "--strip-all", "--add-section", f".gnu_debugdata={junk}", str(exe),
                    str(stripped)], check=True)
    elf = ElfFile(str(stripped))
    text = elf.section(".text")
    assert text is not None
    addresses = list(range(text.addr, text.addr + text.size))
    symbols = LibdwflSymbols(elf)
    assert [symbols.name_at(a) for a in addresses] == eu_addr2line_symbols(str(stripped), addresses)
