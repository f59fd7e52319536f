"""`unwind report` on recordings made in the test, against `perf report --stdio` on the same files.

Our stacks are ours (our unwinders), perf's are perf's: where the two unwind a sample differently the
reports differ, so the comparison allows exactly the share of samples whose frames differ
(`disagreeing_period`, counted against `perf script`), and perf's bogus frame for a zero return
address (`[unknown] 0xffffffffffffffff`) is perf's error, not a row we must have (NOTES.md, "unwind report").
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
from report_peer import disagreeing_period, perf_report, perf_stacks, report_rows, take_row, ties_sorted

import unwind

UNWINDERS = {"tree.dwarf": "dwarf", "tree.fp": "fp", "threads.fp": "fp", "python.dwarf": "dwarf"}
PERF_BOGUS_ROWS = ("[unknown] [.] 0xffffffffffffffff", "[unknown] [k] 0xffffffffffffffff")  # [k]: level inherited
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def unwind_report(path: Path, *args: str) -> str:
    argv = [sys.executable, "-m", "unwind", "report", str(path), *args]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="session")
def disagreement(report_recordings: dict[str, Path]) -> dict[str, float]:
    """Per recording: the percentage of the period whose stacks we unwind differently from perf."""
    out = {}
    with unwind.Session() as session:
        for name, path in report_recordings.items():
            ours = list(session.perf(path, UNWINDERS[name], lines=False, progress=False))
            differ, total = disagreeing_period(ours, perf_stacks(path))
            out[name] = 100.0 * differ / total
    return out


@pytest.mark.parametrize("children", ["--children", "--no-children"])
@pytest.mark.parametrize("name", list(UNWINDERS))
def test_rows_at_half_a_percent_are_perfs(report_recordings, disagreement, name: str, children: str) -> None:
    """The acceptance: under --sort dso,sym -g none --no-inline every row of perf's at or above 0.5 % is ours
    with the same percentages (within the share of samples we unwind differently)."""
    args = ("--no-inline", "--sort", "dso,sym", "-g", "none", children)
    path = report_recordings[name]
    theirs = report_rows(perf_report(path, *args))
    ours = report_rows(unwind_report(path, "--stdio", "--unwinder", UNWINDERS[name], *args))
    slack = disagreement[name] + 0.01  # printed percentages are rounded to 0.01
    checked = 0
    for key, rows in theirs.items():
        for row in rows:
            if row[0] < 0.5 or key in PERF_BOGUS_ROWS:
                continue
            found = take_row(ours.get(key, []), row, slack)
            # a row perf has only from the samples it unwinds differently is at most their share
            assert found is not None or row[0] <= slack, (key, row, ours.get(key), slack)
            checked += found is not None
    assert checked >= 1


@pytest.mark.parametrize("args", [(), ("--no-children",), ("-g", "callee"), ("--no-children", "-g", "caller"),
                                  ("--sort", "pid"), ("--sort", "comm,dso,sym", "-g", "caller,2")],
                         ids=lambda a: " ".join(a) or "default")
@pytest.mark.parametrize("name", ["tree.dwarf", "tree.fp", "threads.fp"])
def test_whole_report_is_perfs_where_stacks_agree(report_recordings, disagreement, name: str, args) -> None:
    """Where we unwind every sample as perf does, the whole report (header, entries, call graphs) is perf's."""
    path = report_recordings[name]
    if disagreement[name]:
        pytest.skip(f"{disagreement[name]:.2f} % of {name} unwinds differently (the rows test covers it)")
    ours = unwind_report(path, "--stdio", "--no-inline", "--unwinder", UNWINDERS[name], *args)
    theirs = perf_report(path, "--no-inline", *args)
    assert ties_sorted(ours) == ties_sorted(theirs)


@pytest.mark.parametrize("fmt", ["folded", "pprof"])
def test_profiles_report_as_the_recording(report_recordings, tmp_path: Path, fmt: str) -> None:
    """Profiles in (folded text as `unwind stacks` reads it, a pprof profile; both what `unwind perf` and
    `unwind batch` write): the self overheads are perf report's for the recording (a folded text names no dso
    and no kernel mark, so by symbol only)."""
    path = report_recordings["tree.dwarf"]
    profile = tmp_path / f"tree.{fmt}"
    subprocess.run([sys.executable, "-m", "unwind", "perf", str(path), "--format", fmt, "--no-truncated-marker",
                    "-o", str(profile)], check=True)
    args = ("--no-children", "--sort", "sym", "-g", "none")
    theirs = report_rows(perf_report(path, "--no-inline", *args))
    ours = report_rows(unwind_report(profile, "--stdio", *args))
    def by_symbol(rows: dict) -> dict[str, list]:
        out: dict[str, list] = {}
        for key, values in rows.items():
            out.setdefault(key.split("] ", 1)[1], []).extend(v for v in values if v[0] >= 0.5)
        return {k: sorted(v) for k, v in out.items() if v}

    assert by_symbol(ours) == by_symbol(theirs)


def run_on_terminal(argv: list[str], width: int) -> str:
    """What a command prints to a terminal `width` columns wide (a pseudo-terminal)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, width, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}  # the terminal says its size
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.DEVNULL, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 1 << 16)
        except OSError:   # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait() == 0
    return b"".join(chunks).decode().replace("\r\n", "\n")


def test_terminal_view_is_the_tree_cut_to_width_in_perfs_colours(report_recordings) -> None:
    path = report_recordings["tree.dwarf"]
    args = ["--no-inline", "-g", "caller,2"]
    shown = run_on_terminal([sys.executable, "-m", "unwind", "report", str(path), *args], 72)
    stdio = unwind_report(path, "--stdio", *args)
    assert ANSI.search(stdio) is None   # not a terminal: no colour
    plain = ANSI.sub("", shown)
    assert plain.splitlines() == [line[:72] for line in stdio.splitlines()]
    coloured = 0
    for line in shown.splitlines():   # perf colours the exact percentage; the cell shows it rounded
        for code, cell in re.findall(r"\x1b\[(\d+)m( +\d+\.\d\d%)\x1b\[m", line):
            value = float(cell.strip(" %"))
            assert value >= 0.5 and code in (("31",) if value > 5 else ("32",) if value < 5 else ("31", "32")), line
            coloured += 1
        for cell in re.findall(r"^( +\d+\.\d\d%)", ANSI.sub("", line)):
            assert float(cell.strip(" %")) <= 0.5 or "\x1b[" in line, line
    assert coloured > 5


def test_top_lists_the_hottest_entries(report_recordings) -> None:
    path = report_recordings["tree.dwarf"]
    top = unwind_report(path, "--no-inline", "--top", "4").splitlines()
    stdio = unwind_report(path, "--stdio", "--no-inline").splitlines()
    first = stdio.index(top[0])
    assert top[:3] == stdio[first:first + 3]                     # the column header
    entries = [line for line in stdio[first + 3:] if re.match(r" +\d+\.\d\d%", line)]
    assert len(top) == 7 and top[3:] == entries[:4]
    shown = run_on_terminal([sys.executable, "-m", "unwind", "report", str(path), "--no-inline", "--top", "4"], 50)
    assert [line for line in ANSI.sub("", shown).splitlines()] == [line[:50] for line in top]


@pytest.mark.parametrize("args", [("--sort", "nope"), ("-g", "sideways"), ("--top", "0")])
def test_bad_options_are_one_line_errors(report_recordings, args) -> None:
    proc = subprocess.run([sys.executable, "-m", "unwind", "report", str(report_recordings["tree.fp"]), *args],
                          capture_output=True, text=True, check=False)
    assert proc.returncode != 0 and proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1


def test_session_report_is_the_command(report_recordings) -> None:
    from formats.perfreport import render_stdio

    path = report_recordings["threads.fp"]
    with unwind.Session() as session:
        report = session.report(path, unwinder="fp", sort="pid", inline=False)
    assert render_stdio(report) == unwind_report(path, "--stdio", "--unwinder", "fp", "--sort", "pid", "--no-inline")
    assert report.event == "cpu-clock" and report.samples > 100
