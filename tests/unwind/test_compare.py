"""compare(): every metric on a fixed hand-made sample set (worked out by hand below), failures, references."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given, strategies as st

from unwind.compare import (CALLCHAIN, LOCATION_CLASSES, TRUTH, attach_truth, compare, lbr_sweep, lcs_length,
                            read_truth_file, truncate_lbr)
from unwind.errors import MemoryReadError, UsageError
from unwind.locations import Location, LocationClass
from unwind.model import BranchEntry, Frame, Registers, Sample, StopReason, Trace, Via

# Four samples; truth is pc then return addresses.
TRUTH_STACKS = [
    (0x10, 0x20, 0x30, 0x40),
    (0x11, 0x21, 0x31),
    (0x12, 0x22),
    (0x13, 0x23, 0x33, 0x43, 0x53),
]
CLASSES = [LocationClass.PROLOGUE, LocationClass.BODY, LocationClass.BODY, LocationClass.SIGNAL]
MODULES = ["a.so", "a.so", "b", "b"]
FUNCS = ["f", "g", "g", "h"]
MAIN_DEPTHS = [2, None, 1, 3]  # frames through main; None: main not on the stack


def make_samples(truth=True, callchain=False):
    return [Sample(Registers.of(rip=t[0], rsp=0x7000 + 0x100 * i), truth=t if truth else None, time=i, tid=7,
                   user_callchain=t if callchain else ())
            for i, t in enumerate(TRUTH_STACKS)]


def trace(pcs, stop=StopReason.END):
    return Trace(tuple(Frame(pc, None, None, Via.CFI, i > 0) for i, pc in enumerate(pcs)), stop)


class Scripted:
    """Returns a fixed stack per sample (by time); raises where the script holds an exception."""

    def __init__(self, name, script):
        self.name = name
        self.script = script
        self.calls = 0

    def unwind(self, sample):
        self.calls += 1
        out = self.script[sample.time]
        if isinstance(out, Exception):
            raise out
        return out


class FixedClassifier:
    def classify(self, sample, reference):
        i = sample.time
        return Location(CLASSES[i], MODULES[i], FUNCS[i], MAIN_DEPTHS[i])


def unwinders():
    return {
        "perfect": Scripted("perfect", [trace(t) for t in TRUTH_STACKS]),
        # s0: stops after 2 frames; s1: a bogus frame in the middle; s2: leaf wrong; s3: exact but reason bad-memory.
        "mixed": Scripted("mixed", [trace((0x10, 0x20), StopReason.BAD_RULE),
                                    trace((0x11, 0x99, 0x21, 0x31)),
                                    trace((0x77, 0x22), StopReason.NO_UNWIND_INFO),
                                    trace(TRUTH_STACKS[3], StopReason.BAD_MEMORY)]),
        # s1 raises a data error; the others are complete.
        "flaky": Scripted("flaky", [trace(TRUTH_STACKS[0]), MemoryReadError(0x11, 8),
                                    trace(TRUTH_STACKS[2]), trace(TRUTH_STACKS[3])]),
    }


@pytest.fixture(scope="module")
def report():
    return compare(make_samples(), unwinders(), classifier=FixedClassifier(), measure_memory=False)


def test_perfect_unwinder(report):
    r = report.unwinders["perfect"]
    assert (r.exact, r.exact_rate, r.frame_recall, r.wrong_frames) == (4, 1.0, 1.0, 0)
    assert r.prefix_depths == {2: 1, 3: 1, 4: 1, 5: 1}
    assert r.stops == {"end": 4}


def test_mixed_unwinder_by_hand(report):
    r = report.unwinders["mixed"]
    # exact: only s3 (all five frames equal) -> 1 of 4.
    assert (r.exact, r.exact_rate) == (1, 0.25)
    # LCS: s0 2 of 4, s1 3 of 3 (0x99 unmatched), s2 1 of 2 (0x22), s3 5 of 5 -> 11 of 14 reference frames.
    assert r.frame_recall == pytest.approx(11 / 14)
    # wrong: s0 0, s1 1 (0x99), s2 1 (0x77), s3 0.
    assert r.wrong_frames == 2
    # correct prefixes: s0 2, s1 1 (0x11 then 0x99), s2 0, s3 5.
    assert r.prefix_depths == {0: 1, 1: 1, 2: 1, 5: 1}
    assert r.stops == {"bad-memory": 1, "bad-rule": 1, "end": 1, "no-unwind-info": 1}
    # through main: s0 (prefix 2 >= 2), s3 (exact); s1 has no main and is not exact; s2's prefix 0 < 1.
    assert r.exact_to_main == 2
    # by location: prologue = s0 (not exact), body = s1, s2 (neither exact), signal = s3 (exact).
    assert {k: (g.samples, g.exact) for k, g in r.by_location.items()} == {
        "prologue": (1, 0), "body": (2, 0), "signal": (1, 1)}
    assert r.by_location["body"].frame_recall == pytest.approx((3 + 1) / (3 + 2))
    assert {k: (g.samples, g.exact) for k, g in r.by_module.items()} == {"a.so": (2, 0), "b": (2, 1)}
    assert {k: (g.samples, g.exact) for k, g in r.by_function.items()} == {"f": (1, 0), "g": (2, 0), "h": (1, 1)}


def test_a_raising_unwinder_is_a_counted_failure(report):
    r = report.unwinders["flaky"]
    assert r.failures == 1 and r.errors == [(1, "MemoryReadError: cannot read 8 bytes at 0x11")]
    assert r.stops == {"end": 3, "error": 1}
    assert (r.exact, r.wrong_frames) == (3, 0)
    assert r.frame_recall == pytest.approx((4 + 2 + 5) / 14)
    assert r.prefix_depths == {0: 1, 2: 1, 4: 1, 5: 1}
    assert r.exact_to_main == 3


def test_a_bug_in_an_unwinder_propagates():
    """A data error is a counted failure; anything else is a bug and must not become a result."""
    buggy = Scripted("buggy", [trace(TRUTH_STACKS[0]), KeyError(16), trace(TRUTH_STACKS[2]), trace(TRUTH_STACKS[3])])
    with pytest.raises(KeyError):
        compare(make_samples(), {"buggy": buggy}, classifier=FixedClassifier(), measure_memory=False)
    with pytest.raises(KeyError):
        compare(make_samples(truth=False), {"perfect": unwinders()["perfect"], "buggy": buggy}, reference="buggy",
                classifier=FixedClassifier(), measure_memory=False)


def test_json_is_the_contract_shape(report):
    data = json.loads(json.dumps(report.to_json()))
    assert data["samples"] == 4 and data["reference"] == "truth"
    assert set(data["unwinders"]) == {"perfect", "mixed", "flaky"}
    for u in data["unwinders"].values():
        assert {"exact", "exact_rate", "frame_recall", "wrong_frames", "stops", "by_location"} <= set(u)
        assert isinstance(u["exact"], int) and isinstance(u["wrong_frames"], int)
        assert isinstance(u["exact_rate"], float) and isinstance(u["frame_recall"], float)
        assert all(isinstance(v, int) for v in u["stops"].values())
        assert {"prologue", "epilogue", "body", "leaf", "plt", "signal"} <= set(u["by_location"])
        for group in u["by_location"].values():
            assert isinstance(group["samples"], int) and isinstance(group["exact_rate"], float)
    mixed = data["unwinders"]["mixed"]
    assert (mixed["exact"], mixed["exact_rate"], mixed["wrong_frames"]) == (1, 0.25, 2)
    assert mixed["by_location"]["signal"] == {"samples": 1, "exact": 1, "exact_rate": 1.0, "frame_recall": 1.0,
                                              "exact_to_main_rate": 1.0}
    assert mixed["by_location"]["prologue"]["exact_to_main_rate"] == 1.0
    assert (mixed["exact_to_main"], mixed["exact_to_main_rate"]) == (2, 0.5)
    assert mixed["by_location"]["leaf"]["samples"] == 0
    assert data["unwinders"]["flaky"]["errors"] == [{"sample": 1,
                                                     "message": "MemoryReadError: cannot read 8 bytes at 0x11"}]
    assert data["locations"] == {c: {"prologue": 1, "body": 2, "signal": 1}.get(c, 0) for c in LOCATION_CLASSES}


def test_no_truth_no_reference_is_a_usage_error():
    with pytest.raises(UsageError, match="no ground truth"):
        compare(make_samples(truth=False), unwinders(), classifier=FixedClassifier())


def test_reference_unwinder_and_callchain():
    samples = make_samples(truth=False, callchain=True)
    by_name = compare(samples, unwinders(), "perfect", classifier=FixedClassifier(), measure_memory=False)
    by_chain = compare(samples, unwinders(), CALLCHAIN, classifier=FixedClassifier(), measure_memory=False)
    for r in (by_name, by_chain):
        assert r.unwinders["perfect"].exact == 4
        assert r.unwinders["mixed"].wrong_frames == 2
        assert r.unwinders["mixed"].frame_recall == pytest.approx(11 / 14)


def test_samples_the_reference_cannot_unwind_are_skipped():
    us = unwinders()
    r = compare(make_samples(truth=False), us, "flaky", classifier=FixedClassifier(), measure_memory=False)
    assert (r.samples, r.skipped, r.indices) == (3, 1, (0, 2, 3))
    assert r.unwinders["perfect"].exact == 3


def test_cost_and_table_memory():
    class Slow:
        name = "slow"

        def unwind(self, sample):
            time.sleep(0.002)
            return trace(sample.truth)

    class Hoarder:
        name = "hoarder"

        def __init__(self):
            self.table = None

        def unwind(self, sample):
            if self.table is None:
                self.table = bytearray(2_000_000)
            scratch = bytearray(500_000)  # freed again: peak, not table
            del scratch
            return trace(sample.truth)

    class Reports(Hoarder):
        def table_bytes(self):
            return 1234

    r = compare(make_samples(), {"slow": Slow(), "hoarder": Hoarder(), "reports": Reports()},
                classifier=FixedClassifier())
    assert r.unwinders["slow"].cost_us >= 2000
    assert r.unwinders["slow"].calls == 4
    assert 2_000_000 <= r.unwinders["hoarder"].table_bytes < 2_100_000
    assert r.unwinders["hoarder"].peak_bytes >= 2_500_000
    assert r.unwinders["slow"].table_bytes < 50_000
    assert r.unwinders["reports"].table_bytes == 1234


def test_lbr_sweep_truncates_to_the_newest_entries():
    entries = tuple(BranchEntry(0x1000 + i, 0x2000 + i) for i in range(32))
    sample = Sample(Registers.of(rip=1), lbr=entries, truth=(1,))
    assert truncate_lbr([sample], 8)[0].lbr == entries[:8]

    seen = []

    class DepthProbe:
        name = "lbr"

        def __init__(self, depth=32, stitch=False):
            self.depth, self.stitch = depth, stitch

        def unwind(self, s):
            seen.append((self.depth, self.stitch, len(s.lbr)))
            return trace(s.truth[:1 + len(s.lbr) // 8])

    samples = [Sample(Registers.of(rip=0x10), lbr=entries, truth=(0x10, 1, 2, 3, 4), time=0)]
    report = compare(samples, {"perfect": Scripted("p", [trace(samples[0].truth)])},
                     classifier=FixedClassifier(), measure_memory=False)
    sweep = lbr_sweep(samples, report, DepthProbe)
    assert sorted(set(seen)) == [(4, False, 4), (8, False, 8), (16, False, 16), (32, False, 32), (32, True, 32)]
    # depth 4 -> 1 frame of 5, 8 -> 2, 16 -> 3, 32 -> 5 (exact).
    assert {k: (v["exact"], v["frame_recall"]) for k, v in sweep.items()} == {
        "4": (0, 0.2), "8": (0, 0.4), "16": (0, 0.6), "32": (1, 1.0), "stitched": (1, 1.0)}


def test_attach_truth_by_time_and_position():
    samples = make_samples(truth=False)
    records = [(s.time, s.tid, (0x1000 + s.time,)) for s in reversed(samples)]
    assert [s.truth for s in attach_truth(samples, records)] == [(0x1000,), (0x1001,), (0x1002,), (0x1003,)]
    shifted = [(t + 100, tid, f) for t, tid, f in records]
    assert [s.truth for s in attach_truth(samples, shifted)] == [(0x1003,), (0x1002,), (0x1001,), (0x1000,)]
    with pytest.raises(UsageError, match="3 lines for 4 samples"):
        attach_truth(samples, shifted[:3])


def test_truth_file_round_trip(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"time": 5, "tid": 9, "frames": ["0x10", "0xffffffffff600000"]}\n\n')
    assert read_truth_file(str(path)) == [(5, 9, (0x10, 0xFFFFFFFFFF600000))]


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=6),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                        max_size=3), max_leaves=8)
truth_keys = st.fixed_dictionaries({}, optional={"time": json_values, "tid": json_values, "frames": json_values})


@given(st.lists(truth_keys | json_values, max_size=4), st.binary(max_size=20))
def test_corrupt_truth_files_are_usage_errors(tmp_path_factory, records, tail):
    path = tmp_path_factory.mktemp("truth") / "t.jsonl"
    path.write_bytes("".join(json.dumps(r) + "\n" for r in records).encode() + tail)
    try:
        rows = read_truth_file(str(path))
    except UsageError as exc:
        assert str(path) in str(exc)
    else:
        assert all(isinstance(f, tuple) and all(isinstance(a, int) for a in f) for _, _, f in rows)


def naive_lcs(a, b):
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a)):
        for j in range(len(b)):
            table[i + 1][j + 1] = table[i][j] + 1 if a[i] == b[j] else max(table[i][j + 1], table[i + 1][j])
    return table[-1][-1]


stacks = st.lists(st.integers(0, 6), max_size=14)


@given(stacks, stacks)
def test_lcs_equals_the_textbook_table(a, b):
    assert lcs_length(a, b) == naive_lcs(a, b)


@given(st.lists(st.lists(st.integers(0, 5), min_size=1, max_size=8), min_size=1, max_size=6), st.data())
def test_metrics_stay_in_range(truths, data):
    samples = [Sample(Registers.of(rip=t[0]), truth=tuple(t), time=i) for i, t in enumerate(truths)]
    emitted = [data.draw(stacks) for _ in truths]

    class Replay:
        name = "replay"

        def unwind(self, s):
            return trace(emitted[s.time])

    class AnyPlace:
        def classify(self, sample, reference):
            return Location(LocationClass.BODY, None, None)

    r = compare(samples, {"replay": Replay()}, TRUTH, classifier=AnyPlace(), measure_memory=False,
                measure_time=False).unwinders["replay"]
    assert 0 <= r.frame_recall <= 1
    assert r.wrong_frames == sum(len(e) - naive_lcs(e, t) for e, t in zip(emitted, truths))
    assert sum(r.prefix_depths.values()) == len(truths)
    assert r.exact == sum(tuple(e) == tuple(t) for e, t in zip(emitted, truths))


def test_aliases():
    from unwind.compare import make_unwinder

    assert make_unwinder("fp-naive").prologue is False and make_unwinder("fp").prologue is True
    assert make_unwinder("lbr-stitched").stitch is True and make_unwinder("lbr").stitch is False
    with pytest.raises(UsageError, match="unknown unwinder"):
        make_unwinder("nosuch")
