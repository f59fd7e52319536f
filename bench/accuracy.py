#!/usr/bin/env python3
"""Accuracy of every unwinder on the whole corpus against the emulator's exact truth, as Markdown tables for NOTES.md.

Every binary in corpus/bin runs under the emulator with fixed arguments, period and seed (at most
--max-samples samples each); every sample is unwound by fp-naive (no frame-0 analysis), fp, dwarf, orc, lbr,
lbr-stitched and auto
and scored with unwind.compare. Tables: overall, by build configuration, by location class of the
leaf pc (frame-pointer and no-frame-pointer builds apart), the LBR depth sweep, ORC on objtool builds,
dwarf where CFI covers every true frame (its misses sorted by known cause).

Usage: .venv/bin/python bench/accuracy.py [--max-samples K] [--jobs N] [--only TEXT] [--json OUT]
"""

from __future__ import annotations

import argparse
from bisect import bisect_left, bisect_right
import json
import os
import sys
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from unwind.compare import LOCATION_CLASSES, compare, lbr_sweep, make_unwinder  # noqa: E402
from formats.elf import ElfFile  # noqa: E402
from formats.errors import UnwindError  # noqa: E402
from unwind.cfi_tables import CfiCache  # noqa: E402
from unwind.modules import ModuleResolver, find_debug_file  # noqa: E402
from unwind.sim.sampler import Simulation  # noqa: E402
from unwind.symtable import name_table  # noqa: E402

UNWINDERS = ("fp-naive", "fp", "dwarf", "orc", "lbr", "lbr-stitched", "auto")
# program -> (arguments, sampling period): each run is a few million instructions, mostly past start-up.
RUNS = {"frames": (["5000"], 4001), "recursion": (["2000"], 5003), "nonlocal": (["3000"], 4003),
        "exceptions": (["40"], 9001), "libcalls": (["20"], 5003), "sysprobe": ([], 3001)}
SEED = 7
RESOLVER = ModuleResolver()


def measure(binary: str, max_samples: int) -> dict:
    """Simulate one corpus binary and score every unwinder; compact per-sample rows for the parent."""
    try:
        return _measure(binary, max_samples)
    except Exception as exc:  # noqa: BLE001 - one broken binary or run must not lose the whole table
        return {"binary": Path(binary).name, "samples": 0, "error": f"{type(exc).__name__}: {exc}"}


def _measure(binary: str, max_samples: int) -> dict:
    program = Path(binary).name.split("-")[0]
    args, period = RUNS.get(program, ([], 5003))
    started = time.perf_counter()
    samples = list(Simulation(binary, args, period=period, seed=SEED, max_samples=max_samples))
    simulated = time.perf_counter() - started
    if not samples:
        return {"binary": Path(binary).name, "samples": 0}
    report = compare(samples, {name: make_unwinder(name) for name in UNWINDERS}, measure_memory=False)
    sweep = lbr_sweep(samples, report, lambda **o: make_unwinder("lbr", **o))
    own = Path(binary).name
    scored = [samples[i] for i in report.indices]
    covered = orc_functions(binary)
    own_only = [all(_module_name(s, a) == own for a in ref[:loc.main_depth or len(ref)])
                for s, ref, loc in zip(scored, report.references, report.locations)]
    in_program = [all(_module_name(s, a) == own and _covered(covered, _vaddr(s, a) - (k > 0))
                      for k, a in enumerate(ref[:loc.main_depth or len(ref)]))
                  for s, ref, loc in zip(scored, report.references, report.locations)]
    # every frame covered by CFI: the pc, then return addresses looked up at ra - 1
    all_cfi = [all(has_cfi(s, a - (k > 0)) for k, a in enumerate(ref)) for s, ref in zip(scored, report.references)]
    dwarf_rows = report.unwinders["dwarf"].scores
    cfi_misses = {i: miss_cause(s, ref, dwarf_rows[i].stop)
                  for i, (s, ref, covered) in enumerate(zip(scored, report.references, all_cfi))
                  if covered and not dwarf_rows[i].exact}
    all_orc = [all(has_orc(s, a - (k > 0)) for k, a in enumerate(ref[:loc.main_depth or len(ref)]))
               for s, ref, loc in zip(scored, report.references, report.locations)]
    return {
        "binary": own, "samples": report.samples, "simulated_s": simulated, "all_cfi": all_cfi, "all_orc": all_orc,
        "cfi_misses": cfi_misses,
        "locations": [str(loc.cls) for loc in report.locations],
        "in_program": in_program,
        "own_only": own_only,
        "unwinders": {name: {"rows": [(s.exact, s.exact_to_main, s.matched, s.emitted, s.reference, s.stop)
                                      for s in u.scores], "seconds": u.seconds, "calls": u.calls}
                      for name, u in report.unwinders.items()},
        "sweep": sweep,
    }


def orc_functions(binary: str) -> list[tuple[int, int]]:
    """Extents of the functions objtool processed: symbol-table functions holding an .orc_unwind_ip address."""
    from formats.elf import ElfFile
    from formats.orc.table import read_orc

    elf = ElfFile(binary)
    table = read_orc(elf)
    if table is None:
        return []
    ips = sorted(table.addresses)
    out = []
    for start, size, _, _ in name_table(elf):
        i = bisect_left(ips, start)
        if size and i < len(ips) and ips[i] < start + size:
            out.append((start, start + size))
    return out


def _covered(extents: list[tuple[int, int]], vaddr: int | None) -> bool:
    i = bisect_right(extents, (vaddr, float("inf"))) - 1 if vaddr is not None else -1
    return i >= 0 and extents[i][0] <= vaddr < extents[i][1]


def _vaddr(sample, address: int) -> int | None:
    """ELF virtual address of an absolute address in the sample's address space."""
    mapping = sample.modules.find(address)
    module = RESOLVER.module_for(mapping) if mapping else None
    return module.to_vaddr(address) if module else None


CFI = CfiCache()


def has_cfi(sample, address: int) -> bool:
    """Whether the module mapped at `address` has a CFI row for it (.eh_frame, or .debug_frame of it or of its
    debug file)."""
    mapping = sample.modules.find(address)
    module = RESOLVER.module_for(mapping) if mapping else None
    if module is None:
        return False
    debug = find_debug_file(module.elf, RESOLVER.debug_dirs)
    try:
        table = CFI.get(module.elf, ElfFile(debug) if debug else None)
    except UnwindError:
        return False
    return table.rule_at(module.to_vaddr(address)) is not None


ORC = make_unwinder("orc", resolver=RESOLVER)


def has_orc(sample, address: int) -> bool:
    """Whether the module mapped at `address` has a defined ORC entry for it (not objtool's `sp:(und)`)."""
    mapping = sample.modules.find(address)
    module = RESOLVER.module_for(mapping) if mapping else None
    table = ORC.table_for(module) if module is not None else None
    entry = table.find(module.to_vaddr(address)) if table is not None else None
    try:
        return entry is not None and ORC.rule(entry) is not None
    except UnwindError:
        return False


# libgcc's entry points that end in its context install (uw_install_context rewrites their saved registers and
# return address to the target frame's, then eh_return jumps): the pc, or its caller, in one of them
INSTALLERS = frozenset(("_Unwind_RaiseException", "_Unwind_Resume", "_Unwind_Resume_or_Rethrow",
                        "_Unwind_ForcedUnwind"))
NAMES: dict[str, tuple[list[int], list[tuple[int, int, str]]]] = {}


def function_name(sample, address: int) -> str | None:
    """The symbol covering `address` (the debug file's .symtab when there is one: libc's __longjmp is local)."""
    mapping = sample.modules.find(address)
    module = RESOLVER.module_for(mapping) if mapping else None
    if module is None:
        return None
    if module.path not in NAMES:
        debug = find_debug_file(module.elf, RESOLVER.debug_dirs)
        rows = [(a, size, name) for a, size, name, _ in name_table(ElfFile(debug) if debug else module.elf) if size]
        NAMES[module.path] = ([r[0] for r in rows], rows)
    starts, rows = NAMES[module.path]
    vaddr = module.to_vaddr(address)
    i = bisect_right(starts, vaddr) - 1
    return rows[i][2] if i >= 0 and vaddr < rows[i][0] + rows[i][1] else None


CAUSES = ("snapshot", "__longjmp", "libgcc-install")  # known reasons, in the order the table removes them


def miss_cause(sample, truth: tuple[int, ...], stop: str) -> str:
    """Why dwarf missed a sample whose every true frame has CFI: the known causes, else `other`."""
    if stop == "bad-memory":
        return "snapshot"  # the stack copy ends before the walk does (in the corpus: handlers on a sigaltstack)
    if function_name(sample, truth[0]) == "__longjmp":
        return "__longjmp"  # its CFI describes the jump target, not the caller
    if INSTALLERS & {function_name(sample, truth[0]), *(function_name(sample, ra - 1) for ra in truth[1:2])}:
        return "libgcc-install"
    return "other"


def _module_name(sample, address: int) -> str | None:
    mapping = sample.modules.find(address)
    return mapping.path.rsplit("/", 1)[-1] if mapping and mapping.path else None


def config_of(binary: str) -> str:
    """frames-glibc-dynamic-O2-fp -> glibc-dynamic-O2-fp."""
    return binary.split("-", 1)[1]


class Tally:
    """Counts over a set of sample rows."""

    __slots__ = ("n", "exact", "to_main", "matched", "emitted", "reference")

    def __init__(self):
        self.n = self.exact = self.to_main = self.matched = self.emitted = self.reference = 0

    def add(self, row) -> None:
        exact, to_main, matched, emitted, reference, _ = row
        self.n += 1
        self.exact += exact
        self.to_main += to_main
        self.matched += matched
        self.emitted += emitted
        self.reference += reference

    def rate(self, what: str) -> str:
        return f"{100 * getattr(self, what) / self.n:.1f}%" if self.n else "–"

    def recall(self) -> str:
        return f"{100 * self.matched / self.reference:.1f}%" if self.reference else "–"


def markdown(head: list[str], rows: list[list[str]]) -> str:
    rule = "|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|"
    lines = ["| " + " | ".join(head) + " |", rule]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def tables(results: list[dict]) -> str:
    failed = [f"{r['binary']} ({r['error']})" for r in results if r.get("error")]
    results = [r for r in results if r.get("samples")]
    total = sum(r["samples"] for r in results)
    out = [f"{total} samples from {len(results)} corpus binaries (seed {SEED}).", ""]
    if failed:
        out += ["Not measured: " + "; ".join(failed), ""]

    overall = {u: Tally() for u in UNWINDERS}
    cost = {u: [0.0, 0] for u in UNWINDERS}
    for r in results:
        for u in UNWINDERS:
            for row in r["unwinders"][u]["rows"]:
                overall[u].add(row)
            cost[u][0] += r["unwinders"][u]["seconds"]
            cost[u][1] += r["unwinders"][u]["calls"]
    out.append("**Overall** (exact: all frames equal; through main: leaf..main right, C start-up frames ignored; "
               "wrong: emitted frames outside the LCS with the truth)\n")
    out.append(markdown(["unwinder", "exact", "through main", "frame recall", "wrong frames/sample", "µs/sample"],
                        [[u, t.rate("exact"), t.rate("to_main"), t.recall(), f"{(t.emitted - t.matched) / t.n:.2f}",
                          f"{1e6 * cost[u][0] / max(cost[u][1], 1):.0f}"] for u, t in overall.items()]))

    by_config: dict[str, dict[str, Tally]] = defaultdict(lambda: {u: Tally() for u in UNWINDERS})
    for r in results:
        for u in UNWINDERS:
            for row in r["unwinders"][u]["rows"]:
                by_config[config_of(r["binary"])][u].add(row)
    out += ["", "**Exact through main by build** (samples)\n"]
    out.append(markdown(["build"] + list(UNWINDERS),
                        [[f"{c} ({t['fp'].n})"] + [t[u].rate("to_main") for u in UNWINDERS]
                         for c, t in sorted(by_config.items())]))

    for label, keep in (("-fp builds", lambda b: b.endswith("-fp")),
                        ("-nofp and -orc builds (no frame pointer)", lambda b: not b.endswith("-fp"))):
        grid: dict[str, dict[str, Tally]] = {c: {u: Tally() for u in UNWINDERS} for c in LOCATION_CLASSES}
        for r in results:
            if keep(r["binary"]):
                for u in UNWINDERS:
                    for cls, row in zip(r["locations"], r["unwinders"][u]["rows"]):
                        grid[cls][u].add(row)
        out += ["", f"**Exact through main by location class of the leaf pc, {label}** (samples)\n"]
        out.append(markdown(["class"] + list(UNWINDERS),
                            [[f"{c} ({g['fp'].n})"] + [g[u].rate("to_main") for u in UNWINDERS]
                             for c, g in grid.items() if g["fp"].n]))

    cols = [("fp-naive", "-fp"), ("fp", "-fp"), ("fp", "-nofp"), ("dwarf", ""), ("orc", "-orc"), ("lbr", ""),
            ("auto", "")]
    own: dict[str, dict[tuple[str, str], Tally]] = {c: {k: Tally() for k in cols} for c in LOCATION_CLASSES}
    for r in results:
        if "-dynamic-" not in r["binary"]:
            continue
        for u, suffix in cols:
            if suffix and not r["binary"].endswith(suffix):
                continue
            for cls, only, row in zip(r["locations"], r["own_only"], r["unwinders"][u]["rows"]):
                if only:
                    own[cls][(u, suffix)].add(row)
    out += ["", "**Dynamic builds, stacks entirely in the executable (leaf..main): exact through main by location "
                "class** (samples per column)\n"]
    out.append(markdown(["class"] + [f"{u} on {s or 'all'} builds" for u, s in cols],
                        [[c] + [f"{g[k].rate('to_main')} ({g[k].n})" for k in cols]
                         for c, g in own.items() if any(t.n for t in g.values())]))

    sweep: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0.0])
    for r in results:
        for depth, s in r["sweep"].items():
            sweep[depth][0] += s["exact"]
            sweep[depth][1] += s["samples"]
            sweep[depth][2] += s["frame_recall"] * s["samples"]
    out += ["", "**LBR depth sweep** (recorded 32-entry call stack truncated to the newest D entries)\n"]
    out.append(markdown(["LBR", "exact", "frame recall (sample-weighted)"],
                        [[d if d == "stitched" else f"depth {d}", f"{100 * e / n:.1f}%", f"{100 * fr / n:.1f}%"]
                         for d, (e, n, fr) in sweep.items()]))

    # dwarf where CFI covers every frame of the true stack
    cfi: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in results:
        libc = "musl" if "-musl-" in r["binary"] else "glibc"
        for covered, row in zip(r.get("all_cfi", ()), r["unwinders"]["dwarf"]["rows"]):
            if covered:
                cfi[libc][0] += row[0]
                cfi[libc][1] += 1
    out += ["", "**dwarf on samples whose true frames all have CFI** (exact, whole stack)\n"]
    out.append(markdown(["libc", "exact", "samples"],
                        [[k, f"{100 * e / n:.2f}%", str(n)] for k, (e, n) in sorted(cfi.items()) if n]))
    causes = Counter(c for r in results for c in r.get("cfi_misses", {}).values())
    exact, n = sum(e for e, _ in cfi.values()), sum(n for _, n in cfi.values())
    if causes:
        rates, left = [], n
        for cause in CAUSES:  # cumulative: each known cause taken out in turn
            left -= causes[cause]
            rates.append(f"without {cause}{' too' if rates else ''}: {100 * exact / max(left, 1):.2f}% of {left}")
        out += ["", "dwarf misses there by cause: " + ", ".join(f"{c} {causes[c]}" for c in (*CAUSES, "other"))
                + "; exact " + "; ".join(rates)]

    # LBR "exact up to its depth": everything it reports is right (every emitted frame is the true one,
    # in order, however many it could hold), and whole stacks where it claims completeness.
    right: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for r in results:
        program = r["binary"].split("-")[0]
        for exact, _, matched, emitted, _, stop in r["unwinders"]["lbr"]["rows"]:
            t = right[program]
            t[0] += matched == emitted
            t[1] += 1
            if stop == "end":
                t[2] += exact
                t[3] += 1
    out += ["", "**lbr: are the frames it reports right?** (no wrong frame, however short; and exact where it "
                "claims the whole stack)\n"]
    out.append(markdown(["program", "no wrong frame", "exact when `end`", "samples"],
                        [[p, f"{100 * a / n:.1f}%", f"{100 * e / m:.1f}% ({m})" if m else "-", str(n)]
                         for p, (a, n, e, m) in sorted(right.items()) if n]))

    orc = {True: {u: Tally() for u in UNWINDERS}, False: {u: Tally() for u in UNWINDERS}}
    for r in results:
        if r["binary"].endswith("-orc"):
            for u in UNWINDERS:
                for inside, row in zip(r["in_program"], r["unwinders"][u]["rows"]):
                    orc[inside][u].add(row)
    defined = [0, 0]
    for r in results:
        for covered, row in zip(r.get("all_orc", ()), r["unwinders"]["orc"]["rows"]):
            if covered and r["binary"].endswith("-orc"):
                defined[0] += row[1]
                defined[1] += 1
    if defined[1]:
        out += ["", f"**orc where every frame leaf..main has a defined ORC entry** (-orc builds): "
                    f"{100 * defined[0] / defined[1]:.2f}% exact through main of {defined[1]} samples\n"]
    out += ["", "**objtool (-orc) builds: exact through main by where the frames are** (samples)\n"]
    out.append(markdown(["frames leaf..main"] + list(UNWINDERS),
                        [[f"{'all in objtool-processed functions' if k else 'some elsewhere (libc, ld.so, crt)'}"
                          f" ({v['fp'].n})"] + [v[u].rate("to_main") for u in UNWINDERS] for k, v in orc.items()]))
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-samples", type=int, default=150)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--only", help="only binaries whose name contains TEXT")
    parser.add_argument("--json", metavar="OUT", help="also write the raw per-binary results")
    args = parser.parse_args(argv)
    binaries = sorted(str(p) for p in (ROOT / "corpus" / "bin").iterdir()
                      if p.is_file() and (not args.only or args.only in p.name))
    started = time.monotonic()
    with ProcessPoolExecutor(args.jobs) as pool:
        results = []
        for i, result in enumerate(pool.map(measure, binaries, [args.max_samples] * len(binaries)), 1):
            results.append(result)
            print(f"[{i}/{len(binaries)}] {result['binary']}: {result['samples']} samples "
                  f"{result.get('error', '')}", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(results))
    print(tables(results))
    print(f"({time.monotonic() - started:.0f} s, {args.jobs} jobs, --max-samples {args.max_samples})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
