"""`unwind demo`: the main job on the embedded corpus, no input needed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "run the main job on the embedded corpus (no input needed)"
CORPUS_BIN = Path(__file__).resolve().parents[2] / "corpus" / "bin"
DEFAULT_PROGRAM = "frames-glibc-dynamic-O2-nofp"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--program", default=DEFAULT_PROGRAM, help=f"corpus binary (default {DEFAULT_PROGRAM})")


def run(args: argparse.Namespace) -> int:
    from ..call_sites import call_sites
    from ..errors import UsageError
    from ..symbolizer import Symbolizer

    binary = CORPUS_BIN / args.program
    if not binary.is_file():
        raise UsageError(f"no corpus program {args.program!r} in {CORPUS_BIN}")
    symbolizer = Symbolizer(symfs=args.symfs, debug_dirs=args.debug_dir)
    sites = call_sites(str(binary))
    print(f"{binary.name}: {len(sites)} call sites in its own code; each return address symbolised "
          "(innermost inline first):\n")
    for site, frames in zip(sites, symbolizer.symbolize(str(binary), [s.return_address - 1 for s in sites])):
        chain = "  <-  ".join(f"{f.function or '??'} ({Path(f.file).name if f.file else '??'}:{f.line or 0})"
                              for f in frames)
        print(f"  {site.return_address:#08x}  calls {site.target_text:<28} {chain}")
    sys.stdout.flush()
    return 0
