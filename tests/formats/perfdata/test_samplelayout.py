"""The compiled decoders the reader uses decode exactly what the general, field-by-field ones decode."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from formats.errors import TruncatedError
from formats.perfdata import (RegsDump, SampleId, SampleLayout, SampleRecord, SampleType, decode_sample,
                              encode_sample)
from formats.perfdata.records import SampleIdLayout
from formats.perfdata.writer import default_attr
from perfdata.strategies import ALL_BITS, attr_and_sample

S = SampleType
GENERAL_BITS = S.READ | S.RAW | S.REGS_INTR | S.AUX
FAST_BITS = [b for b in ALL_BITS if not b & GENERAL_BITS]


def _typed(value):
    """The value with the type of every part spelled out: a NamedTuple equals a plain tuple, a view equals bytes."""
    if isinstance(value, tuple):
        return (type(value).__name__, *map(_typed, value))
    if isinstance(value, (bytes, memoryview)):
        return type(value).__name__, bytes(value)
    return type(value).__name__, value


def _outcome(decode, *args):
    try:
        return _typed(decode(*args))
    except (TruncatedError, struct.error):
        return "overrun"


@st.composite
def _bodies(draw, pair):
    """A SAMPLE body for (attr, sample): whole, cut short, with a random u64 written over it, or random bytes."""
    attr, sample = pair
    endian = draw(st.sampled_from(["<", ">"]))
    body = bytearray(encode_sample(sample, attr, endian))
    damage = draw(st.sampled_from(["none", "cut", "word", "noise"]))
    if damage == "cut":
        body = body[:draw(st.integers(0, len(body)))]
    elif damage == "word" and len(body) >= 8:        # e.g. a callchain, branch or stack size that lies
        at = draw(st.integers(0, len(body) // 8 - 1)) * 8
        body[at:at + 8] = struct.pack("<Q", draw(st.sampled_from([0, 1, 3, 8, 2**16, 2**63, 2**64 - 1])))
    elif damage == "noise":
        body = bytearray(draw(st.binary(max_size=200)))
    view = draw(st.booleans())
    return attr, endian, memoryview(bytes(body)) if view else bytes(body)


@settings(max_examples=500, deadline=None)
@given(st.data())
def test_fast_layout_decodes_what_decode_sample_does(data):
    bits = st.lists(st.sampled_from(FAST_BITS + [S.WEIGHT_STRUCT]), unique=True)
    attr, endian, body = data.draw(_bodies(data.draw(attr_and_sample(bits=bits))))
    layout = SampleLayout(attr, endian)
    assert not layout.general                        # the compiled path itself is under test
    assert _outcome(layout.decode, body, 0x4002, 3) == _outcome(decode_sample, body, attr, 0x4002, endian, 3)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_every_sample_type_decodes_the_same(data):
    attr, endian, body = data.draw(_bodies(data.draw(attr_and_sample())))
    assert _outcome(SampleLayout(attr, endian).decode, body, 2, 0) == _outcome(decode_sample, body, attr, 2, endian, 0)


def test_the_recorder_layouts_are_compiled():
    """What `perf record --call-graph dwarf|fp|lbr` and the simulator ask for takes the fast path."""
    for attr in (default_attr(), default_attr(callchain=True, hw_index=True), default_attr(branch=False)):
        assert not SampleLayout(attr, "<").general


def test_stack_is_a_view_of_the_body():
    attr = default_attr(branch=False, stack_size=64)
    sample = SampleRecord(ip=1, pid=2, tid=3, time=4, period=5, regs_user=RegsDump(0, attr.sample_regs_user),
                          stack_user=bytes(range(64)), stack_user_dyn_size=40)
    body = memoryview(encode_sample(sample, attr))
    rec = SampleLayout(attr, "<").decode(body)
    assert rec == sample and isinstance(rec.stack_user, memoryview) and rec.stack_user.obj is body.obj


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([S.TID, S.TIME, S.ID, S.STREAM_ID, S.CPU, S.IDENTIFIER]), unique=True),
       st.sampled_from(["<", ">"]), st.binary(min_size=48, max_size=48), st.integers(0, 8))
def test_sample_id_layout_decodes_what_from_bytes_does(bits, endian, blob, pad):
    sample_type = sum(int(b) for b in bits)
    layout = SampleIdLayout(sample_type, endian)
    data = bytes(pad) + blob
    assert layout.size == SampleId.size_for(sample_type)
    assert _typed(layout.decode(data, pad)) == _typed(SampleId.from_bytes(data, pad, sample_type, endian))
