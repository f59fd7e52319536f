#!/usr/bin/env python3
"""Make the fuzz seed corpora (tests/fuzz/seeds/<corpus>/) from real files; run once, commit the output.

    .venv/bin/python tests/fuzz/make_seeds.py              # every corpus
    .venv/bin/python tests/fuzz/make_seeds.py split dwz    # only these

Every seed is a real artefact cut down to size: a small C program built by gcc (DWARF 5 and 4,
split into its sections), the same program compressed by objcopy (zlib, zlib-gnu, zstd), a
recording `unwind simulate` makes of it, a gcore dump of it under gdb, an objtool-processed
corpus binary and a Debian kernel module with ORC (linux-image-6.1, GPL-2.0, fetched by
tests/data/orc/fixtures.py), the first lines of the running kernel's /proc/kallsyms, stack text
in bpftrace's and BCC's formats over /usr/bin/true's mapping, and the persistent index the
symbolizer builds for the program; for split DWARF, the program built with -gsplit-dwarf (its .dwo,
packed by GNU dwp and llvm-dwp); for dwz, two builds of it sharing a `dwz -m` multifile and a
`dwz -5` supplementary file.  Nothing here is hand-crafted bytes.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path[:0] = [str(ROOT), str(HERE)]

from targets import INDEX_KEY, join  # noqa: E402

SEEDS = HERE / "seeds"
PROGRAM = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static inline int square(int x) { return x * x; }
__attribute__((noinline)) int leaf(int n) { volatile int v = square(n); return v + 1; }
__attribute__((noinline)) int middle(int n) { char buf[64]; memset(buf, n, sizeof buf); return leaf(n) + buf[3]; }
int main(int argc, char **argv) {
    long total = 0;
    for (int i = 0; i < 2000; i++) total += middle(i + argc);
    printf("%ld\n", total);
    return argv[0][0] == 0;
}
"""


def run(*argv: str | Path, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], check=True, capture_output=True, **kw)


def put(corpus: str, name: str, data: bytes) -> None:
    folder = SEEDS / corpus
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


def section(path: Path, name: str) -> tuple[bytes, int]:
    """(bytes, address) of a section, as objcopy dumps it (empty if absent)."""
    from formats.elf import ElfFile

    elf = ElfFile(path)
    found = elf.section(name)
    return (elf.section_bytes(found) or b"", found.addr) if found else (b"", 0)


def main() -> int:
    only = sys.argv[1:]  # corpora to remake (default: all of them)
    work = Path(tempfile.mkdtemp(prefix="unwind-seeds-"))
    (work / "p.c").write_text(PROGRAM)
    for corpus, make in (("split", _split_seeds), ("dwz", _dwz_seeds), ("jit", _jit_seeds),
                         ("prologue", _prologue_seeds), ("frame", _frame_seeds), ("reloc", _reloc_seeds)):
        if not only or corpus in only:
            shutil.rmtree(SEEDS / corpus, ignore_errors=True)
            make(work)
    if not only:
        _parser_seeds(work)
    shutil.rmtree(work)
    total = sum(p.stat().st_size for p in SEEDS.rglob("*") if p.is_file())
    print(f"{sum(1 for p in SEEDS.rglob('*') if p.is_file())} seeds, {total} bytes in {SEEDS}")
    return 0


def _sections(path: Path, names: tuple[str, ...], suffix: str = "") -> list[bytes]:
    return [section(path, f".debug_{name}{suffix}")[0] for name in names]


_DWARF = ("info", "abbrev", "str", "line_str", "str_offsets", "addr", "ranges", "rnglists", "aranges")
_DWO = ("info", "abbrev", "str", "str_offsets", "rnglists")


def _split_seeds(work: Path) -> None:
    """split: skeleton sections + .dwo sections (+ cu/tu index of a .dwp): gcc -gsplit-dwarf with its .dwo
    (DWARF 5 and 4), gcc's DWARF 4 packed by GNU dwp (index version 2), clang's DWARF 5 by llvm-dwp (version 5)."""
    builds = (("gcc-dwarf5-dwo", "gcc", ["-gdwarf-5"], None), ("gcc-dwarf4-dwo", "gcc", ["-gdwarf-4"], None),
              ("gcc-dwarf4-dwp", "gcc", ["-gdwarf-4"], "dwp"), ("clang-dwarf5-dwp", "clang-14", ["-gdwarf-5"],
                                                                 "llvm-dwp-14"))
    for name, compiler, flags, packer in builds:
        folder = work / name
        folder.mkdir()
        shutil.copy(work / "p.c", folder / "p.c")
        run(compiler, "-g", "-O1", "-gsplit-dwarf", *flags, "p.c", "-o", "prog", cwd=folder)
        (dwo,) = folder.glob("*.dwo")
        pieces = _sections(folder / "prog", _DWARF)
        if packer is None:
            pieces += _sections(dwo, _DWO, ".dwo") + [b"", b""]
        else:
            run(packer, "-o", "prog.dwp", dwo.name, cwd=folder)
            package = folder / "prog.dwp"
            pieces += _sections(package, _DWO, ".dwo") + [section(package, ".debug_cu_index")[0],
                                                          section(package, ".debug_tu_index")[0]]
        put("split", name, join(pieces))


def _dwz_seeds(work: Path) -> None:
    """dwz: the program built -O1 and -O2, their shared DIEs moved by `dwz -m` into a multifile
    (.gnu_debugaltlink, DW_FORM_GNU_ref_alt/strp_alt) and by `dwz -5 -m` into a supplementary file
    (.debug_sup, DW_FORM_ref_sup4/strp_sup); one seed per rewritten binary."""
    for style, extra, link in (("gnu", [], ".gnu_debugaltlink"), ("sup", ["-5"], ".debug_sup")):
        folder = work / f"dwz-{style}"
        folder.mkdir()
        for opt in ("O1", "O2"):
            run("gcc", "-g", f"-{opt}", work / "p.c", "-o", folder / opt)
        run("dwz", *extra, "-m", "common.debug", "-M", "common.debug", "O1", "O2", cwd=folder)
        common = folder / "common.debug"
        for opt in ("O1", "O2"):
            pieces = _sections(folder / opt, _DWARF) + _sections(common, ("info", "abbrev", "str", "line"))
            pieces += [section(folder / opt, link)[0], section(common, ".debug_sup")[0]]
            put("dwz", f"{style}-{opt}", join(pieces))


_JS = """
function leaf(n) { let s = 0; for (let i = 0; i < n; i++) s += i * i; return s; }
function middle(n) { return leaf(n) + JSON.stringify({n}).length; }
let total = 0;
for (let i = 0; i < 20000; i++) total += middle(i % 200);
console.log(total);
"""


def _node_jit(work: Path) -> tuple[bytes, bytes] | None:
    """(jit-PID.dump, /tmp/perf-PID.map) of a short node run with --perf-prof and --perf-basic-prof; None without node."""
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        return None
    folder = work / "jit"
    folder.mkdir(exist_ok=True)
    (folder / "p.js").write_text(_JS)
    proc = subprocess.Popen([node, "--perf-prof", "--perf-basic-prof", "--interpreted-frames-native-stack", "p.js"],
                            cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc.wait()
    dumps = list(folder.glob("jit-*.dump"))
    perf_map = Path(f"/tmp/perf-{proc.pid}.map")
    if not dumps or not perf_map.exists():
        return None
    dump, text = dumps[0].read_bytes(), perf_map.read_bytes()
    perf_map.unlink()
    return dump, text


def _jit_seeds(work: Path) -> None:
    """jit: the head of a real node jitdump (cut after its first 24 KiB: the parser meets a cut record too) and
    the first 80 lines of the same run's perf map; the dump's last 24 KiB with the map's tail."""
    found = _node_jit(work)
    if found is None:
        return
    dump, text = found
    lines = text.splitlines(keepends=True)
    put("jit", "node-head", join([dump[:24 << 10], b"".join(lines[:80])]))
    put("jit", "node-tail", join([dump[:40] + dump[-(24 << 10):], b"".join(lines[-80:])]))


def _prologue_seeds(work: Path) -> None:
    """prologue: a start byte + machine code of real functions: the program's (gcc -O0/-O2), libc's
    `__vfork` and `memcpy`'s entry, and the first JIT code loads of a node jitdump."""
    from formats.elf import ElfFile
    from formats.symtab import read_symbols

    for opt in ("O0", "O2"):
        run("gcc", f"-{opt}", work / "p.c", "-o", work / f"prologue-{opt}")
    libc = Path("/lib/x86_64-linux-gnu/libc.so.6")
    sources = [(work / "prologue-O0", ("leaf", "middle", "main")), (work / "prologue-O2", ("leaf", "middle", "main"))]
    sources += [(libc, ("__vfork", "__libc_start_main"))] if libc.exists() else []
    for path, names in sources:
        elf = ElfFile(path)
        table = ".symtab" if elf.section(".symtab") else ".dynsym"
        for symbol in read_symbols(elf, table):
            if symbol.name in names and symbol.size:
                code = elf.read_vaddr(symbol.value, symbol.size)
                put("prologue", f"{path.name}-{symbol.name}", bytes([symbol.value & 0xFF]) + code)
    found = _node_jit(work)
    if found is not None:
        from formats.jitdump import parse_jitdump

        loads = [c for c in parse_jitdump(found[0]).code if c.code and 16 <= len(c.code) <= 4096]
        for i, code in enumerate(loads[:4]):
            put("prologue", f"node-jit{i}", bytes([code.address & 0xFF]) + code.code)


def _frame_seeds(work: Path) -> None:
    """frame: DWARF sections + .debug_loc + .debug_loclists of the program at -O2 (DWARF 4: .debug_loc) and
    -O1 (DWARF 5: .debug_loclists), where its variables have location lists."""
    for name, flags in (("dwarf4-O2", ["-gdwarf-4", "-O2"]), ("dwarf5-O1", ["-gdwarf-5", "-O1"])):
        binary = work / f"frame-{name}"
        run("gcc", *flags, work / "p.c", "-o", binary)
        pieces = _sections(binary, _DWARF) + _sections(binary, ("loc", "loclists"))
        put("frame", name, join(pieces))




def _reloc_seeds(work: Path) -> None:
    """reloc: the program as a relocatable object (.rela.debug_*), the same with zlib-compressed sections, and
    a stripped build carrying MiniDebugInfo (as Fedora ships binaries: the gdb manual's recipe)."""
    folder = work / "reloc"
    folder.mkdir()
    shutil.copy(work / "p.c", folder / "p.c")
    run("gcc", "-g", "-O1", "-c", "p.c", "-o", "p.o", cwd=folder)
    run("objcopy", "--compress-debug-sections=zlib", "p.o", "pz.o", cwd=folder)
    put("reloc", "relocatable.o", (folder / "p.o").read_bytes())
    put("reloc", "relocatable-zlib.o", (folder / "pz.o").read_bytes())
    if shutil.which("xz"):
        run("gcc", "-g", "-O1", "p.c", "-o", "m", cwd=folder)
        run("bash", ROOT / "tests" / "data" / "minidebuginfo.sh", cwd=folder)
        put("reloc", "minidebuginfo", (folder / "m.mdi").read_bytes())


def _parser_seeds(work: Path) -> None:
    """The corpora of the other parser targets (and, through run.SEEDS, of the commands)."""
    for corpus in ("elf", "cfi", "eh_frame_hdr", "line", "dwarf", "dwop", "orc", "perfdata", "core", "kallsyms",
                   "stacktext", "symindex"):
        shutil.rmtree(SEEDS / corpus, ignore_errors=True)
    builds = {}
    for name, flags in (("dwarf5-O1", ["-g", "-O1"]), ("dwarf4-O2", ["-gdwarf-4", "-O2"]),
                        ("static-O0", ["-g", "-O0", "-static"])):
        builds[name] = work / name
        run("gcc", *flags, work / "p.c", "-o", builds[name])
    small = builds["dwarf5-O1"]
    run("gcc", "-g", "-O1", "-c", work / "p.c", "-o", work / "p.o")
    run("gcc", "-g", "-O1", "-fno-asynchronous-unwind-tables", work / "p.c", "-o", work / "debugframe")
    # elf: plain, relocatable, and compressed three ways.
    put("elf", "dwarf5-O1", small.read_bytes())
    put("elf", "relocatable.o", (work / "p.o").read_bytes())
    for style in ("zlib", "zlib-gnu", "zstd"):
        run("objcopy", f"--compress-debug-sections={style}", small, work / style)
        put("elf", f"compressed-{style}", (work / style).read_bytes())
    if shutil.which("clang-14"):  # lld's layout: .plt without CFI and sh_entsize 0 (frame 0's PLT rule)
        run("clang-14", "-O1", "-fuse-ld=lld", "-Wl,--strip-all", work / "p.c", "-o", work / "lld-plt")
        put("elf", "lld-plt", (work / "lld-plt").read_bytes())
    # cfi / eh_frame_hdr: flag byte (1 = .eh_frame) + load address + section bytes.
    for name, path, sec in (("eh_frame", small, ".eh_frame"), ("debug_frame", work / "debugframe", ".debug_frame"),
                            ("eh_frame-O2", builds["dwarf4-O2"], ".eh_frame")):
        data, addr = section(path, sec)
        put("cfi", name, bytes([sec == ".eh_frame"]) + addr.to_bytes(8, "little") + data)
    data, addr = section(small, ".eh_frame_hdr")
    put("eh_frame_hdr", "dwarf5-O1", addr.to_bytes(8, "little") + data)
    # line and dwarf: section sets of the DWARF 5 and DWARF 4 builds.
    for name in ("dwarf5-O1", "dwarf4-O2"):
        get = lambda s, name=name: section(builds[name], s)[0]  # noqa: E731
        put("line", name, join([get(".debug_line"), get(".debug_str"), get(".debug_line_str")]))
        put("dwarf", name, join([get(".debug_" + part) for part in
                                 ("info", "abbrev", "str", "line_str", "str_offsets", "addr", "ranges", "rnglists",
                                  "aranges")]))
    # dwop: every DW_OP expression the program's DWARF holds (locations, frame bases, CFA expressions).
    for i, expr in enumerate(_expressions(builds["dwarf4-O2"]) + _expressions(small)):
        put("dwop", f"expr{i:02d}", bytes(range(64)) + expr)
    # orc: an objtool-processed corpus binary and a Debian kernel module.
    put("orc", "recursion-O0-orc", (ROOT / "corpus/bin/recursion-glibc-dynamic-O0-orc").read_bytes())
    module = Path.home() / ".cache/unwind-tests/orc/6.1/vmw_balloon.ko"
    if module.exists():
        put("orc", "vmw_balloon.ko", module.read_bytes())
    # perfdata: a short simulated recording of the program (and the corpus' own capture format).
    recording = work / "p.perf.data"
    run(sys.executable, "-m", "unwind", "simulate", small, "--period", "20000", "--max-samples", "4", "-o", recording)
    put("perfdata", "simulated", recording.read_bytes())
    # core: gcore of the program stopped in leaf().
    core = work / "core"
    run("gdb", "-batch", "-nx", "-ex", "break leaf", "-ex", "run", "-ex", f"gcore {core}", small)
    put("core", "gcore-leaf", core.read_bytes())
    # kallsyms: the head and tail (modules) of this machine's table.
    lines = Path("/proc/kallsyms").read_text().splitlines()
    put("kallsyms", "proc-kallsyms", "\n".join(lines[:300] + lines[-100:]).encode() + b"\n")
    # stacktext: bpftrace ustack/kstack text, BCC folded, address lines, and /usr/bin/true's mapping.
    put("stacktext", "bpftrace", join([_BPFTRACE.encode(), _MAPS.encode()]))
    put("stacktext", "folded", join([b"true;0x555555556123;0x555555557456 12\nother;main 3\n", _MAPS.encode()]))
    put("stacktext", "addresses", join([b"0x555555556123 0x555555557456\n0xffffffff81000000\n", _MAPS.encode()]))
    # symindex: the index the symbolizer builds for the program.
    put("symindex", "dwarf5-O1.idx", _index(small, work))


_MAPS = ("555555554000-555555556000 r--p 00000000 08:01 1 /usr/bin/true\n"
         "555555556000-55555555a000 r-xp 00002000 08:01 1 /usr/bin/true\n"
         "7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0 [stack]\n")
_BPFTRACE = """@[
    0x555555556123
    0x555555557456
    0x7ffff7dd1234
]: 42
@[
    leaf+12
    main+80
    __libc_start_call_main+128
]: 7
"""


def _expressions(path: Path) -> list[bytes]:
    """DW_AT_location / DW_AT_frame_base expressions from the DIEs (pyelftools), and CFA expressions."""
    from elftools.elf.elffile import ELFFile

    out: list[bytes] = []
    with open(path, "rb") as fh:
        elf = ELFFile(fh)
        for cu in elf.get_dwarf_info().iter_CUs():
            for die in cu.iter_DIEs():
                for attr in ("DW_AT_location", "DW_AT_frame_base", "DW_AT_GNU_call_site_value",
                             "DW_AT_call_value"):
                    if attr in die.attributes and die.attributes[attr].form == "DW_FORM_exprloc":
                        out.append(bytes(die.attributes[attr].value))
        if elf.has_ehabi_info() if hasattr(elf, "has_ehabi_info") else False:
            pass
        for entry in elf.get_dwarf_info().EH_CFI_entries():
            for inst in getattr(entry, "instructions", []):
                if inst.args and isinstance(inst.args[-1], list):
                    out.append(bytes(inst.args[-1]))
    unique = list(dict.fromkeys(e for e in out if e))
    return unique[:12]


def _index(binary: Path, work: Path) -> bytes:
    from formats.elf import ElfFile
    from unwind.index import IndexSources, load_index

    cache = work / "cache"
    sources = IndexSources(ElfFile(binary), None)
    load_index(sources, cache)
    data = (cache / sources.file_name()).read_bytes()
    from targets import seal_index

    return seal_index(data, INDEX_KEY)


if __name__ == "__main__":
    sys.exit(main())
