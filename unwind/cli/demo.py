"""`unwind demo`: the main job on the embedded corpus — simulate, unwind with every strategy, score, report.

Runs a few corpus programs under the emulator (O2 with and without frame pointers, one taking
signals, one with C++ exceptions, one with objtool's ORC tables), writes each recording as
perf.data + truth, reads them back, unwinds every sample with every strategy, scores them against
the truth, and writes report.html (inline SVG plots), report.json and flamegraph.svg.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

if TYPE_CHECKING:
    from formats.report import GroupJson

    from ..compare import ComparisonReport
    from ..model import Sample
    from ..modules import ModuleResolver

HELP = "the main job: simulate corpus programs, unwind every sample with every strategy, score against truth, report"
ROOT = Path(__file__).resolve().parents[2]
CORPUS_BIN, CORPUS_SRC = ROOT / "corpus" / "bin", ROOT / "corpus" / "src"
UNWINDERS = ("fp", "dwarf", "orc", "lbr", "lbr-stitched", "auto")


@dataclass(frozen=True, slots=True)
class Run:
    """One emulated run: a corpus binary, its arguments, the sampling period and seed."""

    program: str
    args: tuple[str, ...]
    period: int
    seed: int = 1


RUNS = (
    Run("frames-glibc-dynamic-O2-fp", ("5000",), 4001),
    Run("frames-glibc-dynamic-O2-nofp", ("5000",), 4001),
    Run("recursion-glibc-dynamic-O2-fp", ("2000",), 5003),
    Run("nonlocal-glibc-dynamic-O2-nofp", ("3000",), 4003),
    Run("exceptions-glibc-dynamic-O2-nofp", ("40",), 9001),
    Run("libcalls-glibc-dynamic-O2-fp", ("20",), 5003),
    Run("frames-glibc-dynamic-O2-orc", ("5000",), 4001),
)


def binary_for(run: Run) -> Path:
    from ..errors import UsageError

    path = CORPUS_BIN / run.program
    if not path.is_file():
        raise UsageError(f"no corpus program {run.program!r} in {CORPUS_BIN} (python corpus/build.py builds them)")
    return path


def record_runs(runs: Iterable[Run], outdir: Path, max_samples: int | None,
                log: Callable[[str], None] | None = None) -> list[tuple[str, Path]]:
    """Simulate every run into OUTDIR/NAME.perf.data (+ .truth.jsonl); returns (name, perf.data path)."""
    from ..sim.record import record

    out = []
    for run in runs:
        binary = binary_for(run)
        data = outdir / f"{binary.name}.perf.data"
        started = time.monotonic()
        summary = record(str(binary), data, run.args, period=run.period, seed=run.seed, max_samples=max_samples)
        if log:
            log(f"simulated {binary.name} {' '.join(run.args)}: {summary.samples} samples of "
                f"{summary.instructions:,} instructions in {time.monotonic() - started:.1f} s")
        out.append((binary.name, data))
    return out


def by_program(report: ComparisonReport, names: list[str]) -> dict[str, dict[str, GroupJson]]:
    """Exact rate per program (the name of each scored sample's recording) per unwinder."""
    counts: dict[str, dict[str, list[int]]] = {}  # program -> unwinder -> [samples, exact, exact_to_main]
    for name, u in report.unwinders.items():
        for index, score in zip(report.indices, u.scores):
            cell = counts.setdefault(names[index], {}).setdefault(name, [0, 0, 0])
            cell[0] += 1
            cell[1] += score.exact
            cell[2] += score.exact_to_main
    return {program: {name: {"samples": n, "exact": exact, "exact_to_main": to_main, "exact_rate": exact / n,
                             "exact_to_main_rate": to_main / n}
                      for name, (n, exact, to_main) in cells.items()}
            for program, cells in counts.items()}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output-dir", default="out", metavar="DIR", help="where to write (default ./out)")
    parser.add_argument("--programs", metavar="LIST",
                        help="comma-separated corpus binaries instead of the built-in set")
    parser.add_argument("--max-samples", type=int, default=None, metavar="K", help="at most K samples per program")
    parser.add_argument("--unwinders", default=",".join(UNWINDERS), metavar="LIST")


def run(args: argparse.Namespace) -> int:
    from formats.flamegraph import write_flamegraph_samples
    from formats.report import render_html

    from ..compare import compare, lbr_sweep, load_recording, make_unwinder
    from ..locations import LocationClassifier
    from ..modules import ModuleResolver
    from ..pipeline import SampleResolver
    from ..progress import progress
    from ..symbolizer import Symbolizer
    from .compare import format_table

    started = time.monotonic()
    outdir = Path(args.output_dir)
    outdir.mkdir(parents=True, exist_ok=True)
    runs = RUNS if not args.programs else tuple(
        next((r for r in RUNS if r.program == p), Run(p, (), 5003)) for p in args.programs.split(",") if p)

    def log(line: str) -> None:
        print(f"unwind demo: {line}", file=sys.stderr, flush=True)

    recordings = record_runs(runs, outdir, args.max_samples, log)
    samples: list[Sample] = []
    names: list[str] = []
    for name, path in recordings:
        loaded = load_recording(str(path))
        samples += loaded
        names += [name] * len(loaded)
    def new_resolver() -> ModuleResolver:  # one per unwinder, so each one's table memory includes the files it opened
        return ModuleResolver(symfs=args.symfs, debug_dirs=args.debug_dir)

    resolver = new_resolver()
    unwinders = {n: make_unwinder(n, resolver=new_resolver()) for n in args.unwinders.split(",") if n}
    total = len(samples) * len(unwinders)
    ticks = iter(progress(range(total), "unwinding", total=total))

    def tick(*_: object) -> None:
        next(ticks, None)

    report = compare(samples, unwinders, classifier=LocationClassifier(resolver), progress=tick)
    for _ in ticks:
        pass
    data = report.to_json()
    data["lbr_sweep"] = lbr_sweep(samples, report, lambda **o: make_unwinder("lbr", resolver=resolver, **o))
    data["by_program"] = by_program(report, names)
    data["title"] = "unwind demo: every strategy against exact ground truth"
    data["inputs"] = [f"{name}: {path}" for name, path in recordings]
    (outdir / "report.json").write_text(json.dumps(data, indent=1) + "\n")
    (outdir / "report.html").write_text(render_html(data))

    best = unwinders.get("auto") or next(iter(unwinders.values()))
    pipeline = SampleResolver(best, Symbolizer(symfs=args.symfs, debug_dirs=args.debug_dir), resolver)
    profiles = [pipeline.resolve(s) for s in progress(samples, "symbolising")]
    (outdir / "flamegraph.svg").write_text(write_flamegraph_samples(profiles, title="unwind demo (auto unwinder)"))

    sys.stdout.write(format_table(data))
    print(f"\nwrote {outdir}/report.html, report.json, flamegraph.svg and {len(recordings)} perf.data "
          f"recordings with truth in {time.monotonic() - started:.0f} s; output directory: {outdir.resolve()}")
    sys.stdout.flush()
    return 0
