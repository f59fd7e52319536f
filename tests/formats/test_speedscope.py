"""speedscope writer: valid against the schema shipped in the real `speedscope` npm package, and readable back."""

from __future__ import annotations

import json
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from formats.errors import FormatError
from formats.perfscript import parse_perf_script
from formats.stack import Frame, Stack
from formats.speedscope import build_speedscope, parse_speedscope, write_speedscope


def _only(kind):
    """`kind` built from the fields a strategy gives alone (st.builds would also draw every defaulted field)."""
    return lambda **fields: kind(**fields)


def _sibling(name: str):
    """A sibling test module (under --import-mode=importlib test modules are not importable by name)."""
    spec = spec_from_file_location(f"_peer_{name}", Path(__file__).with_name(f"{name}.py"))
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_recorder = _sibling("test_perfscript")
record, perf_script = _recorder.record, _recorder.perf_script

SCHEMA = Path(__file__).resolve().parents[2] / ".cache/npm/node_modules/speedscope/dist/release/file-format-schema.json"


@pytest.fixture(scope="module")
def validator():
    jsonschema = pytest.importorskip("jsonschema")
    if not SCHEMA.exists():
        pytest.fail(f"{SCHEMA} missing: the set-up installs it (npm install --prefix .cache/npm speedscope@1.25.0)")
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def known() -> list[Stack]:
    inner = Frame(addr=0x10, symbol="inner", module="/x", file="a.c", line=3, inlined=True)
    outer = Frame(addr=0x10, symbol="outer", module="/x", file="a.c", line=9)
    main = Frame(addr=0x20, symbol="main", module="/x", file="b.c", line=20)
    return [
        Stack("x", 1, 1, 0, 1000, (inner, outer, main)),
        Stack("x", 1, 2, 0, 500, (Frame(addr=0x30, symbol=None), main)),
        Stack("x", 1, 1, 0, 1000, (outer, main)),
    ]


def test_known_document(validator):
    document = build_speedscope(known())
    validator.validate(document)
    assert document["shared"]["frames"] == [
        {"name": "main", "file": "b.c", "line": 20},
        {"name": "outer", "file": "a.c", "line": 9},
        {"name": "inner", "file": "a.c", "line": 3},
        {"name": "0x30"},
    ]
    first, second = document["profiles"]
    assert (first["name"], first["samples"], first["weights"], first["endValue"]) == ("x 1/1", [[0, 1, 2], [0, 1]], [1000, 1000], 2000)
    assert (second["name"], second["samples"], second["weights"]) == ("x 1/2", [[0, 3]], [500])


def test_real_recording_validates(validator, tmp_path):
    samples = list(parse_perf_script(perf_script(record(tmp_path, "fp"))))
    document = json.loads(write_speedscope(samples))
    validator.validate(document)
    assert sum(len(p["samples"]) for p in document["profiles"]) == len(samples)
    back = parse_speedscope(json.dumps(document))
    assert [[f.symbol for f in s.frames] for s in back] == [[f.symbol or f"0x{f.addr:x}" for f in s.frames] for s in samples]


def test_schema_rejects_what_it_should(validator):
    document = build_speedscope(known())
    document["profiles"][0]["type"] = "other"
    assert not validator.is_valid(document)


def test_bad_documents_are_format_errors():
    for bad in ("", "[]", '{"shared":{"frames":[]},"profiles":[{"type":"sampled","samples":[[0]],"weights":[1]}]}',
                '{"shared":{"frames":[{"name":1}]},"profiles":[]}', '{"shared":{"frames":[]},"profiles":[{"type":"evented"}]}'):
        with pytest.raises(FormatError):
            parse_speedscope(bad)


frame = st.builds(_only(Frame), addr=st.integers(0, 2**64 - 1), symbol=st.none() | st.text(min_size=1, max_size=5),
                  file=st.none() | st.text(min_size=1, max_size=5), line=st.none() | st.integers(1, 10**6))
sample = st.builds(_only(Stack), comm=st.text(max_size=5), pid=st.integers(0, 9), tid=st.integers(0, 9),
                   time=st.just(0), period=st.integers(1, 10**9), frames=st.lists(frame, max_size=5).map(tuple))


@settings(max_examples=100, deadline=None)
@given(st.lists(sample, max_size=6))
def test_round_trip(validator, batch):
    text = write_speedscope(batch)
    validator.validate(json.loads(text))
    back = parse_speedscope(text)
    by_owner = sorted(batch, key=lambda s: [(b.pid, b.tid) for b in batch].index((s.pid, s.tid)))
    first_comm = {}
    for s in batch:
        first_comm.setdefault((s.pid, s.tid), s.comm)  # a thread's profile is named after its first sample
    assert [(s.comm, s.pid, s.tid, s.period) for s in back] == [
        (first_comm[(s.pid, s.tid)], s.pid, s.tid, s.period) for s in by_owner]
    assert [[(f.symbol, f.file, f.line) for f in s.frames] for s in back] == [
        [(f.symbol or f"0x{f.addr:x}", f.file, f.line) for f in s.frames] for s in by_owner]


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=4),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                        st.sampled_from(["shared", "frames", "profiles", "type", "samples", "weights", "name", "line"]),
                        inner, max_size=4), max_leaves=12))
def test_random_json_only_raises_format_error(value):
    try:
        parse_speedscope(json.dumps(value))
    except FormatError:
        pass
