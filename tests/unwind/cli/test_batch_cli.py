"""`unwind batch --scheduler` on a real `dask scheduler` with two `dask worker` processes on 127.0.0.1:
25 recordings of different programs (22 simulated, 3 from `perf record`) merged into one profile that
equals the sum of the single-file `unwind perf` outputs (folded text exactly; pprof through
`go tool pprof -raw`), also when a worker process is killed mid-run."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from batch_cluster import UNWIND, dask_cluster, folded_sum, make_recordings, need, parse_folded, run


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    need("perf")
    return make_recordings(tmp_path_factory.mktemp("batch") / "recordings")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return dict(os.environ, UNWIND_CACHE_DIR=str(tmp_path_factory.mktemp("batch-cache")))


@pytest.fixture(scope="module")
def expected(recordings: list[Path], env: dict[str, str]) -> Counter[str]:
    return folded_sum(recordings, env)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    with dask_cluster(tmp_path_factory.mktemp("dask")) as running:
        yield running


def test_merged_folded_equals_the_sum_of_single_file_outputs(recordings, expected, cluster, env, tmp_path):
    assert len(recordings) >= 25
    out = tmp_path / "merged.folded"
    cache = tmp_path / "shared-cache"
    done = run([*UNWIND, "batch", str(recordings[0].parent), "--scheduler", cluster.address, "--format", "folded",
                "--cache-dir", str(cache), "-o", str(out)], env=env)
    assert parse_folded(out.read_text()) == expected
    assert f"{len(recordings)} of {len(recordings)} inputs merged, {sum(expected.values())} samples" in done.stderr
    # sharded by build-id: each binary's CFI table and index built once, into the shared cache directory
    tables = list((cache / "cfi").glob("*.cfi"))
    assert len(tables) >= 22 and len({t.name for t in tables}) == len(tables)


def go_pprof_raw(path: Path, tmp: Path) -> str:
    env = dict(os.environ, HOME=str(tmp), GOCACHE=str(tmp / "gocache"), GOFLAGS="-mod=mod", GOTOOLCHAIN="local",
               GOPROXY="off", PPROF_TMPDIR=str(tmp))
    return run([need("go"), "tool", "pprof", "-raw", str(path)], env=env).stdout


def raw_totals(raw: str) -> tuple[Counter[tuple[str, ...]], Counter[str], Counter[str]]:
    """`go tool pprof -raw` -> (leaf-first function-name stacks -> samples, file label -> samples,
    stack -> cpu nanoseconds) ."""
    locations: dict[str, list[str]] = {}
    section = raw[raw.index("\nLocations\n"):raw.index("\nMappings\n")]
    current: list[str] = []
    for line in section.splitlines()[2:]:
        match = re.match(r"^\s+(\d+): 0x[0-9a-f]+(?: M=\d+)? (.*) \S*:\d+ s=\d+$", line)
        if match:
            current = locations[match[1]] = [match[2]]
        elif line.strip():
            current.append(re.sub(r" \S*:\d+ s=\d+$", "", line.strip()))
    stacks: Counter[tuple[str, ...]] = Counter()
    cpu: Counter[str] = Counter()
    files: Counter[str] = Counter()
    samples = raw[raw.index("samples/count cpu/nanoseconds\n"):raw.index("\nLocations\n")].splitlines()[1:]
    last: tuple[str, ...] = ()
    for line in samples:
        match = re.match(r"^\s+(\d+)\s+(\d+): ([\d ]*)$", line)
        if match:
            count = int(match[1])
            last = tuple(name for loc in match[3].split() for name in locations[loc])
            stacks[last] += count
            cpu[";".join(last)] += int(match[2])
            continue
        label = re.search(r"file:\[([^\]]*)\]", line)
        if label:
            files[label[1]] += count
    return stacks, files, cpu


def test_pprof_read_back_by_go_tool_pprof(recordings, cluster, env, tmp_path):
    """The merged pprof holds every single-file `unwind perf --format pprof` sample: the same stacks with
    the same counts and cpu time, and each input's samples labelled with its file."""
    merged = tmp_path / "merged.pb.gz"
    run([*UNWIND, "batch", *map(str, recordings), "--scheduler", cluster.address, "--format", "pprof",
         "-o", str(merged)], env=env)
    stacks, files, cpu = raw_totals(go_pprof_raw(merged, tmp_path))
    want_stacks: Counter[tuple[str, ...]] = Counter()
    want_cpu: Counter[str] = Counter()
    want_files: Counter[str] = Counter()
    def single(path: Path) -> tuple[Counter[tuple[str, ...]], Counter[str]]:
        out = tmp_path / f"{path.name}.pb.gz"
        run([*UNWIND, "perf", str(path), "--format", "pprof", "-o", str(out)], env=env)
        one, _, one_cpu = raw_totals(go_pprof_raw(out, tmp_path))
        return one, one_cpu

    with ThreadPoolExecutor(2) as pool:
        for path, (one, one_cpu) in zip(recordings, pool.map(single, recordings)):
            want_stacks.update(one)
            want_cpu.update(one_cpu)
            want_files[str(path)] = sum(one.values())
    assert stacks == want_stacks
    assert cpu == want_cpu
    assert files == want_files


def test_a_worker_killed_mid_run_changes_nothing(recordings, expected, env, tmp_path):
    """SIGKILL one of the two worker processes while it runs an input: Dask reruns its work on the other
    worker, and the merged profile is the same."""
    from distributed import Client

    with dask_cluster(tmp_path / "dask") as cluster:
        out = tmp_path / "merged.folded"
        slow_env = dict(env, UNWIND_CACHE_DIR=str(tmp_path / "cold-cache"))  # cold: every task takes a while
        proc = subprocess.Popen([*UNWIND, "batch", *map(str, recordings), "--scheduler", cluster.address,
                                 "--format", "folded", "-o", str(out)], env=slow_env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        with Client(cluster.address, timeout="30s") as client:
            pids = client.run(os.getpid)
            victim = None
            deadline = time.monotonic() + 60
            while victim is None and time.monotonic() < deadline and proc.poll() is None:
                for address, keys in client.processing().items():
                    if any(str(k).startswith("profile_task") for k in keys):
                        victim = address
                        break
                else:
                    time.sleep(0.02)
            assert victim is not None, "no worker was seen running an input"
            os.kill(pids[victim], signal.SIGKILL)
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        assert parse_folded(out.read_text()) == expected
