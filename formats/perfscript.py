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
from .profile import ProfileFrame, ProfileSample

UNKNOWN = "[unknown]"
KERNEL_START = 0xFFFF_8000_0000_0000


def format_time(time_ns: int, nanoseconds: bool = False) -> str:
    """perf's timestamp column: `%12s` of `sec.usec`, or `%5lu.%09llu` with --ns; includes the colon."""
    sec, rem = divmod(time_ns, 1_000_000_000)
    if nanoseconds:
        return f"{sec:5d}.{rem:09d}:"
    return f"{sec}.{rem // 1000:06d}".rjust(12) + ":"


def format_header(sample: ProfileSample, nanoseconds: bool = False, callchain: bool = True) -> str:
    comm = f"{sample.comm} " if callchain else f"{sample.comm:>16} "
    return f"{comm}{sample.pid:5d}/{sample.tid:<5d} {format_time(sample.time_ns, nanoseconds)} "


def format_frame(frame: ProfileFrame) -> str:
    """One callchain line; the printed address is the map-relative `offset` when known."""
    address = frame.offset if frame.offset is not None else frame.address
    symbol = frame.symbol or UNKNOWN
    where = "inlined" if frame.inlined else (frame.module or UNKNOWN)
    return f"\t{address:16x} {symbol} ({where})"


def format_sample(sample: ProfileSample, nanoseconds: bool = False) -> str:
    lines = [format_header(sample, nanoseconds)]
    lines.extend(format_frame(frame) for frame in sample.frames)
    return "\n".join(lines) + "\n\n"


def write_perf_script(samples: Iterable[ProfileSample], nanoseconds: bool = False) -> str:
    """The whole `perf script` text for the samples, in the order given."""
    return "".join(format_sample(sample, nanoseconds) for sample in samples)


_HEADER = re.compile(r"^(?P<comm>.*?) *(?P<pid>-?\d+)/(?P<tid>-?\d+) +(?P<sec>\d+)\.(?P<frac>\d{6}|\d{9}): *$")
_FRAME = re.compile(r"^\t *(?P<ip>[0-9a-f]+) (?P<sym>.*) \((?P<dso>[^()]*(?:\([^()]*\)[^()]*)*)\)$")


def _parse_frame(line: str, path: str | None, lineno: int) -> ProfileFrame:
    match = _FRAME.match(line)
    if match is None:
        raise FormatError(f"line {lineno}: not a callchain line: {line[:80]!r}", path)
    address = int(match["ip"], 16)
    symbol = None if match["sym"] == UNKNOWN else match["sym"]
    dso = match["dso"]
    inlined = dso == "inlined"
    module = None if inlined or dso == UNKNOWN else dso
    kernel = address >= KERNEL_START or dso.startswith("[kernel")
    return ProfileFrame(address=address, symbol=symbol, module=module, inlined=inlined, kernel=kernel)


def parse_perf_script(text: str, path: str | None = None) -> Iterator[ProfileSample]:
    """Read `perf script -F comm,pid,tid,time,ip,sym,dso` output back into samples (addresses as printed)."""
    header: re.Match[str] | None = None
    frames: list[ProfileFrame] = []
    for lineno, line in enumerate(text.split("\n"), 1):
        if line.startswith("#"):
            continue
        if not line.strip():
            if header is not None:
                yield _sample(header, frames)
            header, frames = None, []
        elif line.startswith("\t") and header is not None:
            frames.append(_parse_frame(line, path, lineno))
        else:
            if header is not None:
                yield _sample(header, frames)
                frames = []
            header = _HEADER.match(line)
            if header is None:
                raise FormatError(f"line {lineno}: not a perf script sample header: {line[:80]!r}", path)
    if header is not None:
        yield _sample(header, frames)


def _sample(header: re.Match[str], frames: list[ProfileFrame]) -> ProfileSample:
    frac = header["frac"]
    ns = int(frac) * (1000 if len(frac) == 6 else 1)
    return ProfileSample(
        comm=header["comm"],
        pid=int(header["pid"]),
        tid=int(header["tid"]),
        time_ns=int(header["sec"]) * 1_000_000_000 + ns,
        period=1,
        frames=tuple(frames),
    )
