"""`unwind compare PERF.DATA`: score unwinders on the same samples against the truth sidecar or a reference."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from formats.report import CompareJson

    from ..modules import ModuleResolver

HELP = "score unwinders on the same samples against ground truth (PERF.DATA.truth.jsonl) or a reference unwinder"
DEFAULT_UNWINDERS = "fp,dwarf,orc,lbr,auto"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("perf_data", metavar="PERF.DATA")
    parser.add_argument("--unwinders", default=DEFAULT_UNWINDERS, metavar="LIST",
                        help=f"comma-separated unwinder names (default {DEFAULT_UNWINDERS}; "
                             "also lbr-stitched, fp-naive)")
    parser.add_argument("--stitch", action="store_true",
                        help="also score each unwinder's stitched variant (dwarf-stitched, fp-stitched, lbr-stitched)")
    parser.add_argument("--reference", default=None, metavar="truth|callchain|NAME",
                        help="what is right: the truth file (default when present), the recorded callchain, "
                             "or an unwinder")
    parser.add_argument("--truth", default=None, metavar="FILE", help="truth file (default PERF.DATA.truth.jsonl)")
    parser.add_argument("--format", default="table", choices=("table", "json", "html"))
    parser.add_argument("-o", "--output", metavar="OUT", help="write here instead of stdout")
    parser.add_argument("--max-samples", type=int, default=None, metavar="K", help="score only the first K samples")
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc pass (table sizes)")


def format_table(report: CompareJson) -> str:
    """The terminal table: one row per unwinder, then exact rate per location class."""
    from ..compare import LOCATION_CLASSES

    lines = [f"{report['samples']} samples, reference {report['reference']}"
             + (f" ({report['skipped']} without a reference skipped)" if report.get("skipped") else "")]
    head = (f"{'unwinder':<14}{'exact':>7}{'rate':>8}{'>main':>8}{'recall':>8}{'wrong':>7}{'fail':>6}{'us/smp':>9}"
            f"{'KiB':>8}  stops")
    lines += ["", head, "-" * len(head)]
    for name, u in report["unwinders"].items():
        table = u.get("table_bytes")
        kib = "" if table is None else f"{table / 1024:.0f}"
        stops = ", ".join(f"{k} {v}" for k, v in u["stops"].items())
        lines.append(f"{name:<14}{u['exact']:>7}{u['exact_rate'] * 100:>7.1f}%{u['exact_to_main_rate'] * 100:>7.1f}%"
                     f"{u['frame_recall'] * 100:>7.1f}%"
                     f"{u['wrong_frames']:>7}{u['failures']:>6}{u['cost_us']:>9.1f}{kib:>8}  {stops}")
    counts = report.get("locations", {})
    classes = [c for c in LOCATION_CLASSES if c != "unknown" or counts.get(c)]
    rates: tuple[tuple[Literal["exact_rate", "exact_to_main_rate"], str], ...] = (
        ("exact_rate", "exact rate"), ("exact_to_main_rate", "exact-through-main rate"))
    for key, what in rates:
        lines += ["", f"{what} by location class of the leaf pc (samples):",
                  f"{'unwinder':<14}" + "".join(f"{f'{c}({counts.get(c, 0)})':>15}" for c in classes)]
        for name, u in report["unwinders"].items():
            cells = []
            for c in classes:
                g = u["by_location"].get(c)
                cells.append(f"{g.get(key, 0.0) * 100:>14.1f}%" if g and g.get("samples") else f"{'-':>15}")
            lines.append(f"{name:<14}" + "".join(cells))
    sweep = report.get("lbr_sweep")
    if sweep:
        lines += ["", "LBR depth sweep (exact rate / frame recall): " + ", ".join(
            f"{k} {v['exact_rate'] * 100:.1f}%/{v['frame_recall'] * 100:.1f}%" for k, v in sweep.items())]
    failed = [(n, e) for n, u in report["unwinders"].items() for e in u.get("errors", [])[:1]]
    for name, err in failed:
        lines.append(f"{name}: {report['unwinders'][name]['failures']} failures, first at sample "
                     f"{err['sample']}: {err['message']}")
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    from formats.report import render_html

    from ..compare import TRUTH, compare, lbr_sweep, load_recording, make_unwinder
    from ..errors import UsageError
    from ..locations import LocationClassifier
    from ..modules import ModuleResolver
    from ..progress import progress

    names = [n.strip() for n in args.unwinders.split(",") if n.strip()]
    if not names:
        raise UsageError("--unwinders names no unwinder")
    if args.stitch:
        from ..stitch import stitched_name

        names = [m for n in names for m in (n, stitched_name(n)) if m and (m == n or m not in names)]
    samples = load_recording(args.perf_data, args.truth)
    if args.max_samples is not None:
        samples = samples[:args.max_samples]
    has_truth = any(s.truth is not None for s in samples)
    reference = args.reference or TRUTH
    if reference == TRUTH and not has_truth:
        raise UsageError(f"no ground truth for {args.perf_data} (no {args.truth or args.perf_data + '.truth.jsonl'}):"
                         " pass --reference NAME (an unwinder such as dwarf) or --reference callchain")
    def resolver() -> ModuleResolver:  # one per unwinder, so each one's table memory includes the files it opened
        return ModuleResolver(symfs=args.symfs, debug_dirs=args.debug_dir)

    unwinders = {name: make_unwinder(name, resolver=resolver()) for name in names}
    if reference not in (TRUTH, "callchain") and reference not in unwinders:
        unwinders = {reference: make_unwinder(reference, resolver=resolver()), **unwinders}
    total = len(samples) * len(unwinders)
    ticks = iter(progress(range(total), "unwinding", total=total))

    def tick(*_: object) -> None:
        next(ticks, None)

    report = compare(samples, unwinders, reference, classifier=LocationClassifier(resolver()),
                     measure_memory=not args.no_memory, progress=tick)
    for _ in ticks:  # finish the bar
        pass
    data = report.to_json()
    if any(s.lbr for s in samples) and report.samples:
        data["lbr_sweep"] = lbr_sweep(samples, report, lambda **o: make_unwinder("lbr", resolver=resolver(), **o))
    if args.format == "json":
        text = json.dumps(data, indent=1) + "\n"
    elif args.format == "html":
        data["title"] = f"Unwinder accuracy: {args.perf_data}"
        data["inputs"] = [f"unwind compare {args.perf_data} --unwinders {','.join(names)} --reference {reference}"]
        text = render_html(data)
    else:
        text = format_table(data)
    if args.output:
        with open(args.output, "w") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return 0
