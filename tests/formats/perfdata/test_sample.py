"""SAMPLE bodies: encode/decode round trip over every sample_type subset, both byte orders."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from formats.perfdata import decode_sample, encode_sample
from perfdata.strategies import attr_and_sample


@settings(max_examples=300, deadline=None)
@given(attr_and_sample(), st.sampled_from(["<", ">"]))
def test_encode_decode_round_trip(pair, endian):
    attr, sample = pair
    body = encode_sample(sample, attr, endian)
    assert len(body) % 8 == 0
    assert decode_sample(body, attr, 0, endian) == sample
