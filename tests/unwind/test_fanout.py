"""Ordered fan-out: the same bytes in the same order on any number of processes, even when a child dies."""

from __future__ import annotations

import os

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
