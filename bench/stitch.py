#!/usr/bin/env python3
"""Stitching against the emulator's truth: whole-stack exact shares with and without stitching, per stack copy size.

The deep corpus programs (deeprec: recursion of changing depth; interp: a dispatch loop whose call
handler re-enters it; pool: three worker threads with deep task stacks) run under the emulator with
stack copies of 2, 4, 8, 16 and 64 KiB (as `perf record --call-graph dwarf,SIZE`), the same run and
seed for every size. dwarf and lbr unwind the -nofp build, fp the -fp build; each with and without
stitching (`dwarf-stitched`, `fp-stitched`, `lbr-stitched`, streamed with their default look-ahead).
A sample is exact when its pcs are the truth's; a stitched sample (one with via=stitched frames) is
right when every stitched frame has the truth's pc at its depth. Prints the Markdown table for NOTES.md.

Usage: .venv/bin/python bench/stitch.py [--max-samples K] [--sizes 2,4,8,16,64] [--programs deeprec,interp,pool]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from unwind.locations import LocationClassifier  # noqa: E402
from unwind.model import Sample, Trace  # noqa: E402
from unwind.sim.sampler import Simulation  # noqa: E402
from unwind.stitch import StitchScore  # noqa: E402
from unwind.unwinders import get_unwinder  # noqa: E402

PROGRAMS = {"deeprec": ["150"], "interp": ["120"], "pool": ["4"]}  # program -> arguments
PERIOD, SEED = 300, 7
CLASSIFIER = LocationClassifier()
BUILDS = {"dwarf": "nofp", "lbr": "nofp", "fp": "fp"}


def traces(name: str, samples: list[Sample]) -> list[Trace]:
    unwinder = get_unwinder(name)
    unwind_all = getattr(unwinder, "unwind_all", None)
    return list(unwind_all(samples)) if unwind_all else [unwinder.unwind(s) for s in samples]


def main_depth(sample: Sample) -> int:
    """Frames of the truth from the leaf through main (the whole truth where main is not on it)."""
    truth = sample.truth or ()
    location = CLASSIFIER.classify(sample, truth)
    return location.main_depth if location.main_depth is not None else len(truth)


def run(program: str, size: int, max_samples: int) -> dict:
    row: dict = {"program": program, "kib": size}
    for base, build in BUILDS.items():
        binary = str(ROOT / "corpus" / "bin" / f"{program}-glibc-dynamic-O2-{build}")
        samples = list(Simulation(binary, PROGRAMS[program], period=PERIOD, seed=SEED, max_samples=max_samples,
                                  stack_size=size * 1024 - (8 if size == 64 else 0)))
        row["samples", build] = len(samples)
        depths = [main_depth(s) for s in samples]
        for name in (base, f"{base}-stitched"):
            started = time.perf_counter()
            out = traces(name, samples)
            row["seconds", name] = time.perf_counter() - started
            row["exact", name] = sum(t.pcs == s.truth for t, s in zip(out, samples)) / len(samples)
            row["main", name] = sum(t.pcs[:d] == (s.truth or ())[:d] and len(t.pcs) >= d
                                    for t, s, d in zip(out, samples, depths)) / len(samples)
            if name.endswith("-stitched"):
                scores = [StitchScore.of(t, s.truth or ()) for t, s in zip(out, samples)]
                row["stitched", name] = sum(sc.stitched > 0 for sc in scores)
                row["right", name] = sum(sc.stitched > 0 and sc.wrong == 0 for sc in scores)
                row["wrong_frames", name] = sum(sc.wrong for sc in scores)
                row["ambiguous", name] = sum(str(t.stop) == "ambiguous-stitch" for t in out)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-samples", type=int, default=3000)
    parser.add_argument("--sizes", default="2,4,8,16,64")
    parser.add_argument("--programs", default=",".join(PROGRAMS))
    args = parser.parse_args()
    rows = [run(p, int(k), args.max_samples) for p in args.programs.split(",") for k in args.sizes.split(",")]
    print("| program | copy | samples | dwarf | dwarf-stitched | fp | fp-stitched | lbr | lbr-stitched |"
          " stitched samples dwarf / fp / lbr | ambiguous dwarf / fp | wrong stitched frames dwarf / fp / lbr |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    totals = {n: [0, 0, 0] for n in ("dwarf-stitched", "fp-stitched", "lbr-stitched")}
    for r in rows:
        cells = " | ".join(f"{r['exact', n] * 100:.1f} % ({r['main', n] * 100:.1f} %)" for n in
                           ("dwarf", "dwarf-stitched", "fp", "fp-stitched", "lbr", "lbr-stitched"))
        names = ("dwarf-stitched", "fp-stitched", "lbr-stitched")
        for n in names:
            totals[n][0] += r["stitched", n]
            totals[n][1] += r["right", n]
            totals[n][2] += r["wrong_frames", n]
        print(f"| {r['program']} | {r['kib']} KiB | {r['samples', 'nofp']} / {r['samples', 'fp']} | {cells} | "
              + " / ".join(str(r["stitched", n]) for n in names) + " | "
              + " / ".join(str(r["ambiguous", n]) for n in names[:2]) + " | "
              + " / ".join(str(r["wrong_frames", n]) for n in names) + " |")
    print()
    for n, (stitched, right, wrong) in totals.items():
        precision = right / stitched * 100 if stitched else 0.0
        print(f"- {n}: {stitched} stitched samples, {right} with every stitched frame right "
              f"(precision {precision:.2f} %), {wrong} wrong stitched frames")
    cost = {n: sum(r["seconds", n] for r in rows) for n in ("dwarf", "dwarf-stitched", "fp", "fp-stitched")}
    print(f"- time: dwarf {cost['dwarf']:.1f} s, dwarf-stitched {cost['dwarf-stitched']:.1f} s; "
          f"fp {cost['fp']:.1f} s, fp-stitched {cost['fp-stitched']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
