"""unwind/batch.py and unwind/batch_inputs.py: the plan's build-ids against `perf buildid-list`, partial
profiles, corrupt inputs skipped and reported, missing binaries counted, and a LocalCluster run equal to
the single-file outputs."""

from __future__ import annotations

import io
import os
import pickle
import shutil
import signal
import subprocess
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from batch_cluster import BIN, UNWIND, folded_sum, need, parse_folded, run

from formats.merged import write_merged
from unwind.batch import entries, expand_inputs, plan, run_batch, shards, summary
from unwind.batch_inputs import BatchOptions, InputProfiler, plan_input
from unwind.errors import UsageError

FOLDED = BatchOptions(lines=False)  # what `unwind perf --format folded` does


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two simulated recordings, one real `perf record -g` recording, and one of a binary deleted after."""
    directory = tmp_path_factory.mktemp("batch-inputs")
    made: dict[str, Path] = {}
    for name in ("recursion-glibc-dynamic-O2-nofp", "libcalls-musl-static-O2-nofp"):
        made[name] = directory / f"{name}.perf.data"
        run([*UNWIND, "simulate", str(BIN / name), "--period", "1000", "--max-samples", "50", "-o", str(made[name])])
    gone = directory / "gone"
    shutil.copy(BIN / "frames-glibc-static-O2-nofp", gone)
    made["gone"] = directory / "gone.perf.data"
    run([*UNWIND, "simulate", str(gone), "--period", "1000", "--max-samples", "50", "-o", str(made["gone"])])
    gone.unlink()
    need("perf")
    made["perf"] = directory / "ls.perf.data"
    run(["perf", "record", "-q", "-e", "cpu-clock", "-F", "4000", "-g", "-o", str(made["perf"]), "--",
         "sh", "-c", "ls -lR /usr/lib/x86_64-linux-gnu > /dev/null"])
    return made


BUSY = r"""
volatile long sink;
__attribute__((noinline)) long inner(long n) { long s = 0; for (long i = 0; i < n; i++) s += i * i % 7 + sink; return s; }
__attribute__((noinline)) long outer(long n) { return inner(n) + inner(n / 2); }
int main(void) { volatile long total = 0; for (;;) total += outer(2000000); }
"""


@pytest.fixture(scope="module")
def bpftrace_stacks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real `bpftrace` ustack(perf) recording of a busy program, its /proc/PID/maps saved beside it."""
    need("bpftrace")
    tmp = tmp_path_factory.mktemp("bpftrace")
    run(["gcc", "-O1", "-g", "-fno-omit-frame-pointer", "-o", str(tmp / "busy"), "-x", "c", "-"], input=BUSY)
    proc = subprocess.Popen([str(tmp / "busy")], stdout=subprocess.DEVNULL)
    try:
        script = f"profile:hz:499 /pid == {proc.pid}/ {{ @[ustack(perf)] = count(); }} interval:s:1 {{ exit(); }}"
        recorded = run(["bpftrace", "-e", script], timeout=60)
        maps = Path(f"/proc/{proc.pid}/maps").read_text()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    path = tmp / "busy.bt"
    path.write_text(recorded.stdout)
    Path(f"{path}.maps").write_text(maps)
    return path


def test_plan_reads_the_build_ids_perf_buildid_list_prints(inputs):
    listed = subprocess.run(["perf", "buildid-list", "-i", str(inputs["perf"])], capture_output=True, text=True,
                            check=True).stdout
    theirs = {tuple(line.split(None, 1)) for line in listed.splitlines() if " /" in line}
    planned = plan_input(0, str(inputs["perf"]))
    assert planned.kind == "perf" and set(planned.build_ids) == theirs and theirs
    hostname = subprocess.run(["perf", "report", "--header-only", "-i", str(inputs["perf"])], capture_output=True,
                              text=True, check=True).stdout
    assert f"# hostname : {planned.host}\n" in hostname


def test_inputs_expand_from_directories_and_globs(inputs, tmp_path):
    directory = inputs["gone"].parent
    assert expand_inputs([str(directory)]) == sorted(str(p) for p in directory.glob("*.perf.data"))
    assert expand_inputs([str(directory / "rec*.perf.data"), str(inputs["perf"])]) == [
        str(inputs["recursion-glibc-dynamic-O2-nofp"]), str(inputs["perf"])]
    with pytest.raises(UsageError):
        expand_inputs([str(tmp_path / "nothing*.perf.data")])


def test_shards_group_inputs_by_build_id(inputs):
    plans, failures = plan([str(inputs["recursion-glibc-dynamic-O2-nofp"]), str(inputs["perf"])])
    assert not failures
    groups = shards(plans)
    # every binary once; a library both recordings map (libc) is one shard with both inputs
    assert len(groups) == len({k for p in plans for k in p.build_ids})
    shared = [key for key, users in groups.items() if len(users) == 2]
    assert any(name.endswith("libc.so.6") for _, name in shared)


def test_a_missing_binary_is_counted_by_build_id_and_left_unknown(inputs):
    profiler = InputProfiler(FOLDED)
    planned = plan_input(0, str(inputs["gone"]))
    part = profiler.profile(planned)
    (build_id, name), = planned.build_ids
    assert part.missing[(build_id, name)] > 0 and not part.failures
    ours = write_merged(entries_of(part, planned), "folded").decode()
    single = run([*UNWIND, "perf", str(inputs["gone"]), "--format", "folded"]).stdout
    assert parse_folded(ours) == parse_folded(single) and "[unknown]" in ours


def entries_of(part, planned):  # type: ignore[no-untyped-def]
    from unwind.batch import BatchResult

    return entries(BatchResult(part, (planned,), (), 1.0, 1))


def test_partial_profiles_merge_and_pickle(inputs):
    profiler = InputProfiler(FOLDED)
    a = profiler.profile(plan_input(0, str(inputs["recursion-glibc-dynamic-O2-nofp"])))
    b = profiler.profile(plan_input(1, str(inputs["libcalls-musl-static-O2-nofp"])))
    merged = pickle.loads(pickle.dumps(a.merge(b)))
    assert merged.samples == a.samples + b.samples == 100
    def stacks(part):  # type: ignore[no-untyped-def]
        return Counter({(index, stack): n for index, stack, n in part.stacks()})

    assert stacks(merged) == stacks(a) + stacks(b) and merged.done == 2
    assert len(merged.frames) == len(set(a.frames) | set(b.frames))  # each frame once in the merged table
    assert stacks(b.merge(a)) == stacks(merged)


def test_corrupt_inputs_are_reported_and_skipped(inputs, tmp_path):
    good = inputs["recursion-glibc-dynamic-O2-nofp"]
    cut = tmp_path / "cut.perf.data"
    cut.write_bytes(good.read_bytes()[:300])  # inside the attribute section
    garbage = tmp_path / "garbage.perf.data"
    garbage.write_bytes(b"PERFILE2" + bytes(range(200)))
    plans, failures = plan([str(good), str(cut), str(garbage)])
    assert [p.path for p in plans] == [str(good)]
    assert {f.path for f in failures} == {str(cut), str(garbage)}
    assert "truncated" in next(f.reason for f in failures if f.path == str(cut))
    # damaged records in the data section (what the plan cannot see): the input is skipped whole, with the reason
    data = bytearray(good.read_bytes())
    header = plan_input(0, str(good))
    damaged = tmp_path / "damaged.perf.data"
    from formats.perfdata import PerfDataReader

    start = PerfDataReader(str(good)).header.data.offset
    data[start + 6:start + 8] = b"\xff\xff"  # the first record's size: far past the data section
    damaged.write_bytes(bytes(data))
    part = InputProfiler(FOLDED).profile(replace(header, path=str(damaged)))
    assert not part.counts and part.failures[0].path == str(damaged) and "skipped" in part.failures[0].reason


@pytest.fixture(scope="module")
def local_run(inputs, bpftrace_stacks, tmp_path_factory):  # type: ignore[no-untyped-def]
    """perf.data files, a bpftrace stack file with its maps and a corrupt file, on a 2-worker LocalCluster."""
    garbage = tmp_path_factory.mktemp("garbage") / "garbage.perf.data"
    garbage.write_bytes(b"PERFILE2" + b"\xff" * 300)
    paths = [inputs["recursion-glibc-dynamic-O2-nofp"], inputs["perf"], inputs["gone"]]
    result = run_batch([*map(str, paths), str(bpftrace_stacks), str(garbage)], FOLDED, workers=2, stream=io.StringIO())
    return paths, garbage, result


def test_local_cluster_run_equals_the_single_file_outputs(inputs, bpftrace_stacks, local_run):
    """The merged profile is the sum of `unwind perf` and `unwind stacks --maps` outputs; a corrupt input is
    named and skipped."""
    paths, garbage, result = local_run
    assert result.workers == 2
    folded = parse_folded(write_merged(entries(result), "folded").decode())
    stacks = run([*UNWIND, "stacks", str(bpftrace_stacks), "--maps", f"{bpftrace_stacks}.maps", "--format",
                  "folded"]).stdout
    assert "main;inner " in stacks  # symbolised through the saved maps
    assert folded == folded_sum(paths, dict(os.environ)) + parse_folded(stacks)
    lines = summary(result)
    assert lines[0].startswith(f"4 of 5 inputs merged, {sum(folded.values())} samples")
    assert any(line.startswith(f"skipped {garbage}: ") for line in lines)
    assert any(line.startswith("binary not found: ") and str(inputs["gone"].parent / "gone") in line
               for line in lines)
    assert Counter(e.file for e in entries(result)).keys() == {str(p) for p in [*paths, bpftrace_stacks]}


def test_every_format_keeps_each_input_apart_where_it_has_a_place(local_run, bpftrace_stacks):
    """speedscope: one profile per input, valid against speedscope's own schema, weights summing to
    samples x period; json: one line per (input, stack) whose counts sum to the input's samples;
    svg: an SVG document whose title counts every sample."""
    import json
    import xml.etree.ElementTree as ET

    jsonschema = pytest.importorskip("jsonschema")
    _, _, result = local_run
    merged = entries(result)
    per_file = Counter()
    for e in merged:
        per_file[e.file] += e.weight
    schema = json.loads((Path(__file__).resolve().parents[2] / ".cache/npm/node_modules/speedscope/dist/release/"
                         "file-format-schema.json").read_text())
    document = json.loads(write_merged(merged, "speedscope"))
    jsonschema.Draft7Validator(schema).validate(document)
    names = [p["name"] for p in document["profiles"]]
    assert len(names) == len(per_file) and all(any(n.endswith(f) for n in names) for f in per_file)
    periods = {e.file: e.sample.period for e in merged}
    for profile in document["profiles"]:
        file = next(f for f in per_file if profile["name"].endswith(f))
        assert sum(profile["weights"]) == per_file[file] * max(periods[file], 1) == profile["endValue"]
    lines = [json.loads(line) for line in write_merged(merged, "json").decode().splitlines()]
    counts = Counter()
    for line in lines:
        counts[line["file"]] += line["count"]
    assert counts == per_file and all(line["frames"] for line in lines)
    svg = ET.fromstring(write_merged(merged, "svg"))
    assert svg.tag.endswith("svg") and f"{result.profile.samples:,}" in ET.tostring(svg, encoding="unicode")


def test_session_batch_is_the_command(inputs, tmp_path):
    """`unwind.Session(...).batch(...)` gives what `unwind batch` writes (the command is this call + a writer)."""
    import unwind

    paths = [str(inputs["recursion-glibc-dynamic-O2-nofp"]), str(inputs["libcalls-musl-static-O2-nofp"])]
    with unwind.Session(cache_dir=str(tmp_path / "cache")) as session:
        result = session.batch(paths, unwinder="dwarf", lines=False, workers=1)
    out = tmp_path / "cli.folded"
    run([*UNWIND, "batch", *paths, "--workers", "1", "--format", "folded", "-o", str(out)])
    assert write_merged(entries(result), "folded").decode() == out.read_text()
    assert parse_folded(out.read_text()) == folded_sum([Path(p) for p in paths], dict(os.environ))
