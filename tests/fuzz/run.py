#!/usr/bin/env python3
"""Run one fuzz target for N seconds; every new crash class is saved as a regression input.

    .venv/bin/python tests/fuzz/run.py elf --seconds 600            # atheris if installed, else mutation
    .venv/bin/python tests/fuzz/run.py cmd-perf --seconds 600 --engine mutate
    .venv/bin/python tests/fuzz/run.py --list

A crash is any exception that is not an `UnwindError`, a run past `--timeout` seconds (a hang) or
an allocation past the memory bound max(256 MiB, 20 x input size) over the process's start-up
size (RLIMIT_AS: the allocation fails with MemoryError).  Each crash class (exception type +
innermost frame of our code) is saved once, as `tests/fuzz/regressions/<target>/<sha1>`, which
`tests/fuzz/test_regressions.py` replays.  The last line printed is a JSON summary (target,
inputs, seconds, crashes): the campaign table in NOTES.md is made from those lines.

Seeds come from `tests/fuzz/seeds/<corpus>/` (made by `tests/fuzz/make_seeds.py`); atheris keeps
the inputs it finds interesting in `~/.cache/unwind-fuzz/<target>/`, outside the repository.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import importlib
import json
import os
import pkgutil
import random
import resource
import signal
import sys
import time
import traceback
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path[:0] = [str(ROOT), str(HERE)]

from targets import TARGETS, warm_up  # noqa: E402

from formats.errors import UnwindError  # noqa: E402

# Which seed folder each target mutates (commands read the files their parser reads).
SEEDS = {"cmd-symbolize": "elf", "cmd-dump-cfi": "elf", "cmd-dump-orc": "orc", "cmd-perf": "perfdata",
         "cmd-core": "core", "cmd-stacks": "stacktext"}
REGRESSIONS = HERE / "regressions"
MEMORY_FLOOR = 256 << 20
REARM = 256  # inputs between two re-armings of the memory bound


class Hang(BaseException):
    """Raised by SIGALRM inside a target that ran past its time bound."""


def seeds_for(target: str) -> list[bytes]:
    folder = HERE / "seeds" / SEEDS.get(target, target)
    files = sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    return [p.read_bytes() for p in files] or [b""]


def signature(exc: BaseException) -> str:
    """Exception type + the innermost frame in our own code: one crash class."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/formats/" in f.filename
              or "/unwind/" in f.filename]
    where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
    return f"{type(exc).__name__}@{where}"


class Campaign:
    def __init__(self, target: str, timeout: float, save: bool):
        self.name, self.fn, self.timeout, self.save = target, TARGETS[target], timeout, save
        self.largest = 0  # the memory bound's input size, once main() has set it (0: no bound re-armed)
        self.inputs, self.crashes = 0, {}
        self.started = time.monotonic()
        signal.signal(signal.SIGALRM, self._alarm)

    @staticmethod
    def _alarm(*_: object) -> None:
        raise Hang()

    def one(self, data: bytes) -> None:
        self.inputs += 1
        if self.largest and self.inputs % REARM == 0:
            gc.collect()
            limit_memory(self.largest)
        signal.setitimer(signal.ITIMER_REAL, self.timeout)
        try:
            self.fn(data)
        except UnwindError:
            pass
        except (Exception, Hang) as exc:  # noqa: BLE001 - the fuzzer's job is to catch everything
            self._record(data, exc)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)

    def _record(self, data: bytes, exc: BaseException) -> None:
        key = signature(exc)
        if key in self.crashes:
            return
        self.crashes[key] = f"{type(exc).__name__}: {str(exc)[:200]}"
        print(f"[{self.name}] new crash {key}: {self.crashes[key]}", file=sys.stderr, flush=True)
        if self.save:
            folder = REGRESSIONS / self.name
            folder.mkdir(parents=True, exist_ok=True)
            (folder / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)

    def summary(self) -> str:
        return json.dumps({"target": self.name, "inputs": self.inputs,
                           "seconds": round(time.monotonic() - self.started), "crashes": sorted(self.crashes)})


def limit_memory(largest_input: int) -> None:
    """RLIMIT_AS (soft) = what the process maps now + the bound for its largest input.

    Re-armed every REARM inputs (`Campaign.one`): over 10,000 in-process command runs the harness's own
    heap grows by fragmentation and garbage awaiting collection (~30 KB an input for `cmd-perf`, measured
    with /proc/self/maps), which a limit set once at start-up turned into a MemoryError in the mutator."""
    with open("/proc/self/status") as fh:
        vm = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmSize:"))
    bound = vm + max(MEMORY_FLOOR, 20 * largest_input)
    resource.setrlimit(resource.RLIMIT_AS, (bound, resource.getrlimit(resource.RLIMIT_AS)[1]))


# ---- the mutation engine (no coverage; used for commands and where atheris is missing) ----

INTERESTING = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 1 << 31, 1 << 32, 1 << 63,
               (1 << 63) - 1, (1 << 64) - 1, 0x10000, 0x1000)


def mutate(data: bytes, pool: list[bytes], rng: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 3, 4, 8))):
        kind = rng.randrange(9)
        pos = rng.randrange(len(buf) + 1)
        if kind == 0 and buf:
            buf[pos % len(buf)] ^= 1 << rng.randrange(8)
        elif kind == 1 and buf:
            buf[pos % len(buf)] = rng.choice((0, 0xFF, 0x7F, 0x80, rng.randrange(256)))
        elif kind in (2, 3):
            width = rng.choice((2, 4, 8))
            value = rng.choice(INTERESTING) if kind == 2 else rng.randrange(1 << (8 * width))
            if rng.random() < 0.3:
                value = (len(buf) + rng.randrange(-16, 16)) & ((1 << 64) - 1)
            buf[pos:pos + width] = (value & ((1 << (8 * width)) - 1)).to_bytes(width, "little")
        elif kind == 4 and buf:
            end = min(len(buf), pos + rng.choice((1, 4, 16, 256)))
            del buf[pos:end]
        elif kind == 5 and buf:
            start = rng.randrange(len(buf))
            chunk = buf[start:start + rng.choice((4, 16, 64))]
            buf[pos:pos] = chunk * rng.choice((1, 2, 16))
        elif kind == 6:
            del buf[rng.randrange(len(buf) + 1):]
        elif kind == 7 and pool:
            other = rng.choice(pool)
            if other:
                start = rng.randrange(len(other))
                buf[pos:pos + 64] = other[start:start + rng.choice((8, 64, 512))]
        elif kind == 8 and buf:
            text = rng.choice((b"\n", b" ", b";", b"0x", b"\xff\xfe", b"\xed\xa0\x80", b"-1", b"99999999999999999999"))
            buf[pos:pos] = text
    return bytes(buf)


def run_mutation(campaign: Campaign, seconds: float, max_inputs: int | None, rng_seed: int) -> None:
    pool = seeds_for(campaign.name)
    rng = random.Random(rng_seed)
    warm_up(campaign.name, pool)
    for seed in pool:
        campaign.one(seed)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and (max_inputs is None or campaign.inputs < max_inputs):
        campaign.one(mutate(rng.choice(pool), pool, rng))


def run_atheris(campaign: Campaign, seconds: float, max_inputs: int | None) -> None:
    import atheris

    with atheris.instrument_imports(include=["formats", "unwind"]):
        import formats

        for module in pkgutil.walk_packages(formats.__path__, "formats."):
            importlib.import_module(module.name)  # every parser, so a new one is never fuzzed blind
        import unwind.dwarfexpr  # noqa: F401
        import unwind.index  # noqa: F401
        import unwind.prologue  # noqa: F401
        import unwind.symbolizer  # noqa: F401
    work = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "unwind-fuzz" / campaign.name
    work.mkdir(parents=True, exist_ok=True)
    seed_dir = HERE / "seeds" / SEEDS.get(campaign.name, campaign.name)
    argv = [sys.argv[0], f"-max_total_time={int(seconds)}", "-rss_limit_mb=0", "-timeout=0",
            "-max_len=1048576", str(work)]
    if max_inputs:
        argv.insert(1, f"-runs={max_inputs}")
    if seed_dir.is_dir():
        argv.append(str(seed_dir))
    import atexit

    atexit.register(lambda: print(campaign.summary(), flush=True))
    atheris.Setup(argv, campaign.one)
    atheris.Fuzz()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", nargs="?", help="a target name (--list shows them)")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--max-inputs", type=int, default=None)
    parser.add_argument("--engine", choices=("auto", "atheris", "mutate"), default="auto")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds one input may take")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the mutation engine")
    parser.add_argument("--no-save", action="store_true", help="report crashes without saving them")
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # skipped units and records warn; the fuzzer looks for exceptions
    if args.list or not args.target:
        print("\n".join(TARGETS))
        return 0
    largest = max(len(s) for s in seeds_for(args.target))
    limit_memory(max(largest, 1 << 20) * 2)
    campaign = Campaign(args.target, args.timeout, not args.no_save)
    campaign.largest = max(largest, 1 << 20) * 2
    engine = args.engine
    if engine == "auto":
        try:
            import atheris  # noqa: F401
        except ImportError:
            engine = "mutate"
        else:
            engine = "mutate" if args.target.startswith("cmd-") else "atheris"
    if engine == "atheris":
        run_atheris(campaign, args.seconds, args.max_inputs)
    else:
        run_mutation(campaign, args.seconds, args.max_inputs, args.seed)
    print(campaign.summary(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
