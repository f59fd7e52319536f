"""Ordered fan-out: the same bytes in the same order on any number of processes, even when a child dies."""

from __future__ import annotations

import os
import time

import pytest
from hypothesis import given, settings, strategies as st

from unwind.fanout import fan_out


def _render(chunk: list[int]) -> bytes:
    return b"".join(b"%d:%d\n" % (n, n * n) for n in chunk)


def _chunks(count: int, size: int = 3) -> list[list[int]]:
    return [list(range(k * size, k * size + size)) for k in range(count)]


@settings(max_examples=12, deadline=None)
@given(count=st.integers(0, 14), workers=st.integers(1, 3), warmup=st.integers(0, 2))
def test_same_output_as_rendering_in_order(count, workers, warmup):
    chunks = _chunks(count)
    assert list(fan_out(iter(chunks), _render, workers, warmup)) == [_render(c) for c in chunks]


def test_children_really_render_their_share():
    parent = os.getpid()
    pids = [int(data) for data in fan_out(iter(range(8)), lambda _: b"%d" % os.getpid(), 2, warmup=1)]
    assert pids[0] == parent  # the warm-up chunk
    assert {pid != parent for pid in pids[1:]} == {True, False}


def test_a_child_that_fails_or_dies_costs_no_output():
    parent = os.getpid()

    def fragile(chunk: list[int]) -> bytes:
        if os.getpid() != parent and chunk[0] >= 12:
            raise RuntimeError("child failure")
        return _render(chunk)

    def killed(chunk: list[int]) -> bytes:
        if os.getpid() != parent and chunk[0] >= 18:
            os.kill(os.getpid(), 9)
        return _render(chunk)

    chunks = _chunks(10)
    expected = [_render(c) for c in chunks]
    assert list(fan_out(iter(chunks), fragile, 2)) == expected
    assert list(fan_out(iter(chunks), killed, 3)) == expected


def test_stopping_early_reaps_the_children(monkeypatch):
    forked: list[int] = []
    real_fork = os.fork

    def fork() -> int:
        pid = real_fork()
        if pid:
            forked.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", fork)
    out = fan_out(iter(_chunks(50)), _render, 3)
    assert next(out) == _render([0, 1, 2])
    assert next(out) == _render([3, 4, 5])
    out.close()
    assert forked
    for pid in forked:  # none of our children is left running or unreaped (other tests' may be)
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def _tracking_fork(monkeypatch) -> list[int]:
    children: list[int] = []
    real_fork = os.fork

    def fork() -> int:
        pid = real_fork()
        if pid:
            children.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", fork)
    return children


def test_forked_runs_the_call_in_a_child_and_reaps_it(monkeypatch):
    from unwind.fanout import forked

    children = _tracking_fork(monkeypatch)
    parent = os.getpid()
    with forked(lambda: b"%d" % os.getpid()) as result:
        assert int(result()) not in (parent, 0)
    assert len(children) == 1
    with pytest.raises(ChildProcessError):
        os.waitpid(children[0], os.WNOHANG)


def test_forked_answers_here_when_the_child_fails_and_reaps_it_when_the_block_raises(monkeypatch):
    from unwind.fanout import forked

    children = _tracking_fork(monkeypatch)
    parent = os.getpid()

    def fragile() -> bytes:
        if os.getpid() != parent:
            raise RuntimeError("child failure")
        return b"here"

    with forked(fragile) as result:
        assert result() == b"here"
    with pytest.raises(KeyError), forked(lambda: (time.sleep(30), b"late")[1]):
        raise KeyError("the DIE scan failed")  # the child is killed, not waited for
    for pid in children:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


@pytest.mark.parametrize(("cpus", "load", "samples", "workers"), [
    (2, 0.0, 5000, 2), (2, 0.0, 999, 1), (2, 1.2, 5000, 1), (8, 0.5, 100_000, 4), (8, 2.0, 2500, 3),
    (2, 13.0, 100_000, 1), (1, 0.0, 100_000, 1),
])
def test_auto_workers_needs_free_cpus_and_samples(monkeypatch, cpus, load, samples, workers):
    from unwind import fanout

    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(cpus)))
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    assert fanout.auto_workers(samples) == workers
