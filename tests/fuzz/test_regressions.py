"""Replay every input that ever crashed a fuzz target, and every seed: each ends in an UnwindError or nothing.

The inputs live in tests/fuzz/regressions/<target>/ (saved by tests/fuzz/run.py) and
tests/fuzz/seeds/<corpus>/ (made by tests/fuzz/make_seeds.py).  A replay that raises anything
else, or runs past its time bound, is the bug coming back.
"""

from __future__ import annotations

import functools
import signal
import time
import warnings
from pathlib import Path

import pytest

from conftest import load_helper

HERE = Path(__file__).resolve().parent
targets = load_helper("fuzz/targets.py", "unwind_fuzz_targets")
runner = load_helper("fuzz/run.py", "unwind_fuzz_run")
PER_INPUT_SECONDS = 10


def _cases() -> list[tuple[str, Path]]:
    cases = []
    for folder in sorted((HERE / "regressions").glob("*")):
        cases += [(folder.name, p) for p in sorted(folder.iterdir()) if p.is_file()]
    for name in targets.TARGETS:
        seeds = HERE / "seeds" / runner.SEEDS.get(name, name)
        cases += [(name, p) for p in sorted(seeds.iterdir()) if p.is_file()] if seeds.is_dir() else []
    return cases


def test_every_target_has_seeds():
    for name in targets.TARGETS:
        folder = HERE / "seeds" / runner.SEEDS.get(name, name)
        assert folder.is_dir() and any(folder.iterdir()), f"no seeds for {name} (run tests/fuzz/make_seeds.py)"


@functools.cache
def _warm(target: str) -> None:
    """The host files' indexes a command target's inputs name, built once before any replay is timed."""
    targets.warm_up(target, runner.seeds_for(target))


@pytest.mark.parametrize("target,path", _cases(), ids=lambda v: v if isinstance(v, str) else v.name)
def test_replay(target, path):
    assert target in targets.TARGETS, f"regression folder {target} names no target"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _warm(target)

    def hang(*_):
        raise runner.Hang()

    previous = signal.signal(signal.SIGALRM, hang)
    signal.setitimer(signal.ITIMER_REAL, PER_INPUT_SECONDS)
    started = time.monotonic()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            targets.TARGETS[target](path.read_bytes())
    except targets.UnwindError:
        pass
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert time.monotonic() - started < PER_INPUT_SECONDS
