"""Location classes of every instruction of real binaries, derived independently from readelf and objdump output."""

from __future__ import annotations

import random
from bisect import bisect_left, bisect_right
import re
import subprocess
from pathlib import Path

import pytest
from conftest import LIBC, ROOT, need_tool, run_tool

from unwind.locations import LocationClass, LocationClassifier, fde_phase
from unwind.model import Mapping, ModuleMap, Registers, Sample
from unwind.sim.sampler import Simulation
from unwind.sim.shadow import EntryKind

BASE = 0x555555554000
FDE_LINE = re.compile(r"^([0-9a-f]{8}) [0-9a-f]+ [0-9a-f]+ FDE cie=([0-9a-f]{8}) pc=([0-9a-f]+)\.\.([0-9a-f]+)")
CIE_LINE = re.compile(r"^([0-9a-f]{8}) [0-9a-f]+ [0-9a-f]+ CIE")
ROW = re.compile(r"^([0-9a-f]{16}) (\S+)")
INSN = re.compile(r"^\s+([0-9a-f]+):\t(\S+(?: \S+)?)")
PLT = (".plt", ".plt.sec", ".plt.got")


def readelf_fdes(path: str) -> list[tuple[int, int, list[tuple[int, str]]]]:
    """(start, end, [(loc, CFA text)]) of every FDE of readelf --debug-dump=frames-interp; no rows = the CIE's."""
    cies: dict[str, list[tuple[int, str]]] = {}
    fdes, current = [], None
    # readelf 2.40 exits 1 on libc.so.6 after printing every table (no message): keep its output.
    text = subprocess.run([need_tool("readelf"), "--debug-dump=frames-interp", path], capture_output=True,
                          text=True).stdout
    assert "FDE" in text
    for line in text.splitlines():
        if m := CIE_LINE.match(line):
            current = cies.setdefault(m[1], [])
        elif m := FDE_LINE.match(line):
            current = []
            fdes.append((int(m[3], 16), int(m[4], 16), current, m[2]))
        elif (m := ROW.match(line)) and current is not None:
            current.append((int(m[1], 16), m[2]))
    return [(start, end, rows or [(start, cfa) for _, cfa in cies[cie][-1:]]) for start, end, rows, cie in fdes]


def expected_phase(vaddr: int, start: int, end: int, rows: list[tuple[int, str]]) -> str:
    """The definition, written again over readelf's rows: body = CFA text covering most bytes, ties first."""
    locs = [max(start, loc) for loc, _ in rows]
    covered: dict[str, int] = {}
    for k, (_, cfa) in enumerate(rows):
        covered[cfa] = covered.get(cfa, 0) + (locs[k + 1] if k + 1 < len(rows) else end) - locs[k]
    body = max(covered, key=lambda c: (covered[c], -[r[1] for r in rows].index(c)))
    first_body = locs[[r[1] for r in rows].index(body)]
    current = [cfa for loc, (_, cfa) in zip(locs, rows) if loc <= vaddr][-1]
    if vaddr < first_body:
        return "prologue"
    return "body" if current == body else "epilogue"


def objdump_insns(path: str) -> dict[int, str]:
    out = {}
    for line in run_tool(need_tool("objdump"), "-d", "--no-show-raw-insn", "-w", path).splitlines():
        if m := INSN.match(line):
            out[int(m[1], 16)] = m[2]
    return out


def func_symbols(path: str) -> list[tuple[int, int]]:
    out = []
    for line in run_tool(need_tool("readelf"), "-sW", path).splitlines():
        parts = line.split()
        if len(parts) >= 8 and parts[3] == "FUNC" and parts[6] != "UND" and int(parts[2], 0) > 0:
            out.append((int(parts[1], 16), int(parts[1], 16) + int(parts[2], 0)))
    return out


def plt_ranges(path: str) -> list[tuple[int, int]]:
    out = []
    for line in run_tool(need_tool("readelf"), "-SW", path).splitlines():
        parts = line.replace("[ ", "[").split()
        if len(parts) > 5 and parts[1] in PLT:
            out.append((int(parts[3], 16), int(parts[3], 16) + int(parts[5], 16)))
    return out


def expected_classes(path: str, only=None) -> dict[int, str]:
    """Class of every instruction objdump lists (or of those in `only`), by the documented definition."""
    insns = objdump_insns(path)
    fdes = sorted(readelf_fdes(path))
    fde_starts = [f[0] for f in fdes]
    funcs = sorted(func_symbols(path))
    plts = plt_ranges(path)
    calls = sorted(a for a, m in insns.items() if m.split()[-1].startswith("call"))
    out = {}
    for a in sorted(insns) if only is None else only:
        mnemonic = insns[a]
        if any(lo <= a < hi for lo, hi in plts):
            out[a] = "plt"
            continue
        i = bisect_right(fde_starts, a) - 1
        fde = fdes[i] if i >= 0 and a < fdes[i][1] else None
        phase = expected_phase(a, *fde) if fde else None
        if phase in ("prologue", "epilogue"):
            out[a] = phase
        elif mnemonic.split()[-1] in ("ret", "retq"):
            out[a] = "epilogue"
        else:
            extent = next(((lo, hi) for lo, hi in funcs if lo <= a < hi), fde[:2] if fde else None)
            has_call = extent is not None and bisect_left(calls, extent[0]) < bisect_left(calls, extent[1])
            out[a] = "leaf" if extent is not None and not has_call else "body"
    return out


def sample_at(path: str, vaddr: int, base: int = BASE) -> Sample:
    size = Path(path).stat().st_size
    mapping = Mapping(base, base + ((size + 0xFFFF) & ~0xFFF), 0, path)
    return Sample(Registers.of(rip=base + vaddr, rsp=0x7FFFFFFF0000), modules=ModuleMap([mapping]))


@pytest.mark.parametrize("name", ["frames-glibc-dynamic-O2-nofp", "frames-glibc-dynamic-O2-fp",
                                  "frames-glibc-dynamic-O0-fp", "libcalls-glibc-dynamic-O2-nofp",
                                  "exceptions-glibc-dynamic-O2-nofp"])
def test_every_instruction_of_corpus_programs(name):
    path = str(ROOT / "corpus" / "bin" / name)
    expected = expected_classes(path)
    classifier = LocationClassifier()
    got = {a: str(classifier.classify(sample_at(path, a)).cls) for a in expected}
    assert got == expected
    assert {"plt", "prologue", "epilogue", "body"} <= set(got.values())


def test_sampled_instructions_of_libc():
    rng = random.Random(5)
    picked = rng.sample(sorted(objdump_insns(str(LIBC))), 3000)
    expected = expected_classes(str(LIBC), picked)
    classifier = LocationClassifier()
    got = {a: str(classifier.classify(sample_at(str(LIBC), a, 0x7FFFF7C00000)).cls) for a in picked}
    assert got == {a: expected[a] for a in picked}
    assert set(got.values()) == {"plt", "prologue", "epilogue", "body", "leaf"}


def test_module_and_function_names():
    path = str(ROOT / "corpus" / "bin" / "frames-glibc-dynamic-O2-nofp")
    symbols = {p[7]: int(p[1], 16) for p in (line.split() for line in run_tool("readelf", "-sW", path).splitlines())
               if len(p) == 8 and p[3] == "FUNC" and p[6] != "UND"}
    loc = LocationClassifier().classify(sample_at(path, symbols["main"] + 1))
    assert (loc.module, loc.function) == ("frames-glibc-dynamic-O2-nofp", "main")


def test_outside_any_module_is_unknown():
    sample = Sample(Registers.of(rip=0x1234, rsp=0x7FFFFFFF0000))
    assert LocationClassifier().classify(sample).cls is LocationClass.UNKNOWN
    assert LocationClassifier().classify(Sample(Registers())).cls is LocationClass.UNKNOWN


def test_signal_class_follows_the_emulated_kernel():
    """A sample is `signal` exactly when the simulator's shadow stack holds a kernel signal frame's entries."""
    sim = Simulation(str(ROOT / "corpus" / "bin" / "nonlocal-glibc-static-O2-nofp"), ["6"], period=700, seed=3,
                     max_samples=400)
    samples = list(sim)
    classifier = LocationClassifier()
    flags = [EntryKind.SIGNAL_RETURN in kinds or EntryKind.INTERRUPTED in kinds for kinds in sim.truth_kinds]
    classes = [classifier.classify(s, s.truth).cls for s in samples]
    assert any(flags) and not all(flags)
    assert [c is LocationClass.SIGNAL for c in classes] == flags


def test_fde_phase_outside_tables():
    from unwind.cfi_tables import CfiCache
    from formats.elf import ElfFile

    elf = ElfFile(str(ROOT / "corpus" / "bin" / "frames-glibc-dynamic-O2-nofp"))
    table = CfiCache(persist=False, lazy_limit=0).get(elf)
    assert fde_phase(table, 0) == (None, None)
    assert fde_phase(table, 1 << 40) == (None, None)


def test_main_depth_against_readelf_symbols():
    """The frames-through-main count, with main's extent from readelf and return addresses looked up at pc - 1."""
    path = str(ROOT / "corpus" / "bin" / "recursion-glibc-static-O2-nofp")
    main = next((int(p[1], 16), int(p[1], 16) + int(p[2], 0))
                for p in (line.split() for line in run_tool("readelf", "-sW", path).splitlines())
                if len(p) == 8 and p[3] == "FUNC" and p[7] == "main")
    samples = list(Simulation(path, ["300"], period=997, seed=1, max_samples=200))
    classifier = LocationClassifier()
    depths = [classifier.classify(s, s.truth).main_depth for s in samples]
    expected = [next((i + 1 for i, a in enumerate(s.truth) if main[0] <= a - (i > 0) < main[1]), None)
                for s in samples]
    assert depths == expected
    assert None in depths and len(set(depths)) > 3
