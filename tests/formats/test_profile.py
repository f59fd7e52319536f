"""Every writer behind `write_profile`: names with undecodable bytes (kept as lone surrogates) come out
as perf prints them (the raw bytes in perf-script and folded text, U+FFFD in UTF-8 formats), never as
a UnicodeEncodeError; a raw stack's `count` is a weight, never a list of `count` copies."""

from __future__ import annotations

import json
import time

import pytest

from formats.errors import UnwindError
from formats.folded import parse_folded
from formats.pprof import parse_pprof
from formats.profile import OUTPUT_FORMATS, write_profile
from formats.speedscope import parse_speedscope
from formats.stack import MAX_EXPANDED_SAMPLES, Frame, Stack, StopReason

RAW = b"caf\xe9_\xff"  # Latin-1 and a stray byte: not UTF-8, as a stripped binary's symbol table may hold
NAME = RAW.decode("utf-8", "surrogateescape")  # how readers keep it (formats/text.py)


def _stack(symbol: str, count: int = 1, stop: StopReason | None = StopReason.END) -> Stack:
    frames = (Frame(addr=0x401136, module="/usr/bin/prog", offset=0x1136, symbol=symbol),
              Frame(addr=0x401020, module="/usr/bin/prog", offset=0x1020, symbol="main"))
    return Stack("prog", 7, 7, 1_000_000_000, 1000, frames, stop, count)


@pytest.mark.parametrize("fmt", OUTPUT_FORMATS)
def test_undecodable_names_never_raise(fmt):
    out = write_profile([_stack(NAME), _stack("\ud800lone")], fmt)  # an escaped name and a foreign surrogate
    if fmt in ("perf-script", "folded"):
        assert RAW in out  # perf script prints the bytes the binary holds
    elif fmt == "pprof":
        names = set(parse_pprof(out).string_table)
        assert "caf\ufffd_\ufffd" in names and "\ufffdlone" in names
    else:  # json escapes (ASCII out), speedscope puts U+FFFD, svg FlameGraph's '?': all strict UTF-8
        text = out.decode("ascii" if fmt == "json" else "utf-8")
        assert not any(0xD800 <= ord(c) <= 0xDFFF for c in text)
        if fmt == "speedscope":
            assert "caf\ufffd_\ufffd" in text and "\ufffdlone" in text


def test_json_keeps_names_parseable():
    lines = write_profile([_stack(NAME)], "json").decode("ascii").splitlines()
    assert json.loads(lines[0])["frames"][0]["symbol"] == NAME  # json.dumps escapes it; loads gives it back


COUNT = 1 << 31  # `bash;a;b 2147483648` in a folded file (issue 12)


def test_counts_are_weights_not_copies():
    raw = _stack("work", COUNT, stop=None)
    started = time.monotonic()
    folded = parse_folded(write_profile([raw], "folded").decode())
    assert [(s.frames, s.count) for s in folded] == [(("prog", "main", "work"), COUNT)]
    profile = parse_pprof(write_profile([raw], "pprof"))
    assert [list(s.value) for s in profile.sample] == [[COUNT, 1000 * COUNT]]
    doc = json.loads(write_profile([raw], "speedscope"))
    assert [p["weights"] for p in doc["profiles"]] == [[1000 * COUNT]]
    assert [s.period for s in parse_speedscope(json.dumps(doc))] == [1000 * COUNT]
    assert b'"count":2147483648' in write_profile([raw], "json")
    assert b"2,147,483,648 samples" in write_profile([raw], "svg")
    assert time.monotonic() - started < 5  # nothing proportional to the count ran


def test_perf_script_repeats_within_its_bound_only():
    assert write_profile([_stack("work", 3, stop=None)], "perf-script").count(b"\n\n") == 3
    with pytest.raises(UnwindError):
        write_profile([_stack("work", MAX_EXPANDED_SAMPLES + 1, stop=None)], "perf-script")
