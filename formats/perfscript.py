"""`perf script -F comm,pid,tid,time,ip,sym,dso` text: the exact writer, and a reader for perf's own output.

Layout (tools/perf/builtin-script.c perf_sample__fprintf_start, util/evsel_fprintf.c
sample__fprintf_callchain, perf 6.1): a header `comm pid/tid time: ` where comm is `%s ` when
callchains are printed (`%16s ` otherwise), pid/tid `%5d/%-5d `, time `%12s: ` holding
`sec.usec` (usec truncated) or `%5lu.%09llu: ` with --ns; then one line per frame
`\\t%16x sym (dso)`, or `\\t%16x sym (inlined)` for inline frames; `[unknown]` for a missing
symbol or dso; a blank line after each sample. perf prints the map-relative address
(ip - map start + pgoff) for user frames and the absolute one for kernel frames.
"""

from __future__ import annotations

import re
from typing import Iterable, Iterator

from .errors import FormatError
from .stack import Frame, Stack, expand

UNKNOWN = "[unknown]"
KERNEL_START = 0xFFFF_8000_0000_0000


def format_time(time_ns: int, nanoseconds: bool = False) -> str:
    """perf's timestamp column: `%12s` of `sec.usec`, or `%5lu.%09llu` with --ns; includes the colon."""
    sec, rem = divmod(time_ns, 1_000_000_000)
    if nanoseconds:
        return f"{sec:5d}.{rem:09d}:"
    return f"{sec}.{rem // 1000:06d}".rjust(12) + ":"


def format_header(sample: Stack, nanoseconds: bool = False, callchain: bool = True) -> str:
    comm = sample.comm or ""
    comm = f"{comm} " if callchain else f"{comm:>16} "
    return f"{comm}{sample.pid or 0:5d}/{sample.tid or 0:<5d} {format_time(sample.time, nanoseconds)} "


def format_frame(frame: Frame) -> str:
    """One callchain line; the printed address is the map-relative `map_offset` when known."""
    address = frame.map_offset if frame.map_offset is not None else frame.shown_addr
    symbol = frame.symbol or UNKNOWN
    where = "inlined" if frame.inlined else (frame.module or UNKNOWN)
    return f"\t{address:16x} {symbol} ({where})"


class PerfScriptWriter:
    """Writes stacks as perf script text, remembering each frame object's line.

    A profile repeats the same frame objects (the resolver memoises them), so each line is made
    once: the memo maps the frame's identity to its line and keeps the frame alive so that the
    identity stays its own. Bounded: emptied past `memo_size` frames.
    """

    def __init__(self, nanoseconds: bool = False, memo_size: int = 1 << 17) -> None:
        self.nanoseconds = nanoseconds
        self.memo_size = memo_size
        self._lines: dict[int, tuple[Frame, str]] = {}

    def write(self, stacks: Iterable[Stack]) -> str:
        """The `perf script` text of the stacks, in the order given (a stack seen N times, N times)."""
        out: list[str] = []
        append = out.append
        get = self._lines.get
        nanoseconds = self.nanoseconds
        for sample in expand(stacks):
            if nanoseconds:
                append(format_header(sample, True))
            else:  # format_header's text, inline: one call less a sample
                sec, rem = divmod(sample.time, 1_000_000_000)
                append(f"{sample.comm or ''} {sample.pid or 0:5d}/{sample.tid or 0:<5d} "
                       f"{f'{sec}.{rem // 1000:06d}':>12}: ")
            for frame in sample.frames:
                known = get(id(frame))
                append(known[1] if known is not None else self._remember(frame))
            append("\n\n")
        return "".join(out)

    def _remember(self, frame: Frame) -> str:
        if len(self._lines) >= self.memo_size:
            self._lines.clear()
        line = "\n" + format_frame(frame)
        self._lines[id(frame)] = (frame, line)
        return line


def write_perf_script(samples: Iterable[Stack], nanoseconds: bool = False) -> str:
    """The whole `perf script` text for the stacks, in the order given."""
    return PerfScriptWriter(nanoseconds).write(samples)


# Patterns of the reader, compiled on first use by re's own cache: every `unwind perf` run imports this
# module for the writer, and compiling them costs it ~3.3 M instructions.
_HEADER = (
    r"^(?P<comm>.*?) *(?:(?P<pid>-?\d+)/)?(?P<tid>-?\d+) +(?:\[(?P<cpu>\d+)\] +)?"
    r"(?P<sec>\d+)\.(?P<frac>\d{6}|\d{9}): *(?P<rest>.*)$"
)
_REST = r"^(?:(?P<period>\d+) +)?(?:(?P<event>\S+:) *)?(?P<frame>[0-9a-f]+(?: .*)?)?$"
_FRAME = r"^ *(?P<ip>[0-9a-f]+)(?: (?P<sym>.*?))?(?: \((?P<dso>[^()]*(?:\([^()]*\)[^()]*)*)\))?$"


def _parse_frame(text: str, path: str | None, lineno: int) -> Frame:
    match = re.match(_FRAME, text)
    if match is None:
        raise FormatError(f"line {lineno}: not a callchain line: {text[:80]!r}", path)
    address = int(match["ip"], 16)
    if address >= 1 << 64:
        raise FormatError(f"line {lineno}: address wider than 64 bits", path)
    symbol = None if match["sym"] in (None, UNKNOWN) else match["sym"]
    dso = match["dso"] or UNKNOWN
    inlined = dso == "inlined"
    module = None if inlined or dso == UNKNOWN else dso
    kernel = address >= KERNEL_START or dso.startswith("[kernel")
    return Frame(addr=address, symbol=symbol, module=module, inlined=inlined, kernel=kernel)


def parse_perf_script(text: str, path: str | None = None) -> Iterator[Stack]:
    """Read `perf script` text back into samples, addresses as printed (pid -1 when only the tid is shown).

    Exact for `-F comm,pid,tid,time,ip,sym,dso`; also reads perf's default layout (tid, [cpu], period, event,
    sym+off), one-line samples of recordings without callchains, and skips srcline lines.
    """
    header: re.Match[str] | None = None
    frames: list[Frame] = []
    at = 0
    for lineno, line in enumerate(text.split("\n"), 1):
        if line.startswith("#"):
            continue
        if not line.strip():
            if header is not None:
                yield _sample(header, frames, path, at)
            header, frames = None, []
        elif line.startswith("\t") and header is not None:
            frames.append(_parse_frame(line[1:], path, lineno))
        elif header is not None and line.startswith("  ") and not re.match(_HEADER, line):
            continue  # a srcline line (`  file.c:12`, `  [kernel.kallsyms][ffffffff81000130]`)
        else:
            if header is not None:
                yield _sample(header, frames, path, at)
                frames = []
            header, at = re.match(_HEADER, line), lineno
            if header is None:
                raise FormatError(f"line {lineno}: not a perf script sample header: {line[:80]!r}", path)
    if header is not None:
        yield _sample(header, frames, path, at)


def _sample(header: re.Match[str], frames: list[Frame], path: str | None, lineno: int) -> Stack:
    frac = header["frac"]
    ns = int(frac) * (1000 if len(frac) == 6 else 1)
    rest = re.match(_REST, header["rest"].rstrip())
    if rest is None:
        raise FormatError(f"line {lineno}: cannot read {header['rest'][:60]!r} after the time", path)
    if rest["frame"] and not frames:
        frames = [_parse_frame(rest["frame"], path, lineno)]
    return Stack(
        comm=header["comm"].strip(),
        pid=int(header["pid"]) if header["pid"] is not None else -1,
        tid=int(header["tid"]),
        time=int(header["sec"]) * 1_000_000_000 + ns,
        period=int(rest["period"]) if rest["period"] else 1,
        frames=tuple(frames),
    )
