"""Raw stack text inputs: bpftrace ustack/kstack map output, BCC folded lines, address arrays, build-id entries.

bpftrace (src/bpftrace.cpp get_stack, src/types_format.cpp format_build_id_stack) prints a
stack as a newline then one frame per line: default mode `<indent>sym+off` (`0x<hex>` when
unresolved), perf mode `\\t<hex> sym+off (module)`, raw mode `<hex>`, build_id mode
`<40 hex build id> 0x<file offset>` (`<hex ip>` when the build id was unavailable); map entries
read `@name[key, parts]: count`. BCC folded (profile.py -f, offcputime -f) is
`comm;user root..leaf;[-;]kernel root..leaf count`, kernel frames marked `_[k]` with -a.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from .errors import FormatError

KERNEL_START = 0xFFFF_8000_0000_0000
_HEX = re.compile(r"^(?:0x)?([0-9a-fA-F]{1,16})$")
_BUILD_ID_TOKEN = re.compile(r"^((?:[0-9a-fA-F]{2}){1,32})[+:@](?:0x)?([0-9a-fA-F]{1,16})$")  # whole bytes only
_FRAME_BUILD_ID = re.compile(r"^([0-9a-f]{40}) 0x([0-9a-f]{1,16})$")
_FRAME_PERF = re.compile(r"^\t *([0-9a-f]{1,16}) (.+?)(?: \(([^()]*)\))?$")
_FRAME_RAW = re.compile(r"^([0-9a-f]{1,16})$")
_FRAME_UNRESOLVED = re.compile(r"^\s+0x([0-9a-f]{1,16})$")
_MAP_START = re.compile(r"^@[A-Za-z0-9_]*\[(.*)$")
_INTEGER = re.compile(r"^-?[0-9]{1,20}$")
_ATTACHING = re.compile(r"^Attaching \d+ probes?\.\.\.$")  # bpftrace's first line, even with no map output
_MAP_END = re.compile(r"^(.*)\]: (-?[0-9]+)$")


@dataclass(frozen=True, slots=True)
class RawFrame:
    """One frame as the text gave it: an address, a build-id + file offset, and/or symbol text."""

    address: int | None = None
    build_id: str | None = None
    file_offset: int | None = None
    symbol_text: str | None = None
    module: str | None = None
    kernel: bool = False


@dataclass(frozen=True, slots=True)
class RawStack:
    """One stack with its owner and how many times it was seen; frames leaf first, kernel part first."""

    comm: str | None
    pid: int | None
    tid: int | None
    count: int
    frames: tuple[RawFrame, ...]


def _hex(text: str) -> int:
    value = int(text, 16)
    if value >= 1 << 64:
        raise FormatError(f"address {text} wider than 64 bits")
    return value


def parse_bpftrace_frame(line: str, kernel_hint: bool = False) -> RawFrame:
    """One line of a bpftrace stack in any of its modes."""
    if match := _FRAME_BUILD_ID.match(line):
        return RawFrame(build_id=match[1], file_offset=_hex(match[2]))
    if match := _FRAME_PERF.match(line):
        address = _hex(match[1])
        symbol = None if match[2] == "[unknown]" else match[2]
        return RawFrame(address=address, symbol_text=symbol, module=match[3], kernel=address >= KERNEL_START)
    if (match := _FRAME_RAW.match(line)) or (match := _FRAME_UNRESOLVED.match(line)):
        address = _hex(match[1])
        return RawFrame(address=address, kernel=address >= KERNEL_START)
    text = line.strip()
    if not text:
        raise FormatError("empty frame line")
    return RawFrame(symbol_text=text, kernel=kernel_hint)


def _owner(scalars: list[str]) -> tuple[str | None, int | None, int | None]:
    """comm = the first non-numeric key part, pid and tid = the first two integers."""
    comm = next((s for s in scalars if not _INTEGER.match(s)), None)
    numbers = [n for n in (int(s) for s in scalars if _INTEGER.match(s)) if 0 <= n < 1 << 32]  # pids are u32
    return comm, (numbers[0] if numbers else None), (numbers[1] if len(numbers) > 1 else None)


def _map_entry(lines: list[str], count: int, kinds: Sequence[str]) -> RawStack:
    """One `@[...]: count` entry: key lines between the brackets -> scalars and stacks."""
    scalars = [p.strip() for p in lines[0].split(",") if p.strip()]
    runs: list[list[str]] = []
    run: list[str] = []
    for line in lines[1:]:
        if line.startswith(","):
            if run:
                runs.append(run)
                run = []
            scalars.extend(p.strip() for p in line.split(",") if p.strip())
        elif line.strip():
            run.append(line)
    if run:
        runs.append(run)
    kernel: list[RawFrame] = []
    user: list[RawFrame] = []
    for index, frame_lines in enumerate(runs):
        hint = index < len(kinds) and kinds[index] == "kernel"
        frames = [parse_bpftrace_frame(line, hint) for line in frame_lines]
        addressed = [f for f in frames if f.address is not None]
        is_kernel = all(f.kernel for f in addressed) if addressed else hint
        frames = [RawFrame(f.address, f.build_id, f.file_offset, f.symbol_text, f.module, is_kernel) for f in frames]
        (kernel if is_kernel else user).extend(frames)
    comm, pid, tid = _owner(scalars)
    return RawStack(comm, pid, tid, count, tuple(kernel + user))


def parse_bpftrace(text: str, path: str | None = None, kinds: Sequence[str] = ("user", "kernel")) -> list[RawStack]:
    """Every map entry holding stacks; `kinds` names symbol-only stacks in key order (addresses decide otherwise)."""
    stacks: list[RawStack] = []
    lines = text.split("\n")
    i = offset = 0
    offsets = []
    for line in lines:
        offsets.append(offset)
        offset += len(line) + 1
    while i < len(lines):
        start = _MAP_START.match(lines[i])
        if start is None:
            i += 1
            continue
        key = [start[1]]
        first = i
        while True:
            end = _MAP_END.match(key[-1])
            if end is not None:
                key[-1] = end[1]
                break
            i += 1
            if i >= len(lines) or _MAP_START.match(lines[i]):
                raise FormatError(f"line {first + 1}: map entry without ']: count'", path, offsets[first])
            key.append(lines[i])
        i += 1
        if len(key) == 1:
            continue  # a scalar-keyed entry such as @[comm]: 3 holds no stack
        try:
            stacks.append(_map_entry(key, int(end[2]), kinds))
        except FormatError as exc:  # a frame line's fault, reported at its entry's line
            raise FormatError(f"line {first + 1}: bad stack ({exc.message})", path, offsets[first]) from exc
    return stacks


def parse_bcc_folded(text: str, path: str | None = None) -> list[RawStack]:
    """BCC folded lines: comm first, user frames, an optional `-` delimiter, then kernel frames (`_[k]` marks
    them too)."""
    from .folded import parse_folded

    stacks: list[RawStack] = []
    for folded in parse_folded(text, path):
        comm, *names = folded.frames
        kernel_side = False
        frames: list[RawFrame] = []
        for name in names:
            if name == "-" or name == "--":
                kernel_side = True
                continue
            is_kernel = kernel_side or name.endswith("_[k]")
            if name.endswith(("_[k]", "_[u]", "_[j]", "_[i]", "_[w]")):
                name = name[:-4]
            frames.append(RawFrame(symbol_text=name or None, kernel=is_kernel))
        frames.reverse()
        frames.sort(key=lambda f: not f.kernel)  # stable: kernel part (leaf first) then user part
        stacks.append(RawStack(comm, None, None, folded.count, tuple(frames)))
    return stacks


def parse_address_lines(text: str, path: str | None = None) -> list[RawStack]:
    """One stack per line, leaf first: hex addresses (0x optional) or build-id entries `BUILDID+0xOFFSET`.

    Separators may be spaces, commas or semicolons, brackets are ignored; lines starting with # are comments.
    """
    stacks: list[RawStack] = []
    offset = 0
    for lineno, line in enumerate(text.split("\n"), 1):
        start, offset = offset, offset + len(line) + 1
        body = line.strip().strip("[]")
        if not body or line.lstrip().startswith("#"):
            continue
        frames: list[RawFrame] = []
        for token in re.split(r"[\s,;]+", body):
            token = token.strip("[]")
            if not token:
                continue
            if match := _HEX.match(token):
                address = int(match[1], 16)
                frames.append(RawFrame(address=address, kernel=address >= KERNEL_START))
            elif match := _BUILD_ID_TOKEN.match(token):
                frames.append(RawFrame(build_id=match[1].lower(), file_offset=int(match[2], 16)))
            else:
                raise FormatError(f"line {lineno}: {token[:40]!r} is neither a hex address nor BUILDID+0xOFFSET",
                                  path, start)
        stacks.append(RawStack(None, None, None, 1, tuple(frames)))
    return stacks


def detect_format(text: str) -> str:
    """Which parser reads this text: 'bpftrace', 'folded' or 'addresses'."""
    lines = [line for line in text.split("\n") if line.strip()]
    if any(_MAP_START.match(line) for line in lines) or (lines and _ATTACHING.match(lines[0])):
        return "bpftrace"
    folded = re.compile(r"^\S.*\s\d+\s*$")
    if lines and all(folded.match(line) for line in lines) and any(";" in line for line in lines):
        return "folded"
    return "addresses"


def parse_stacks(text: str, path: str | None = None, kinds: Sequence[str] = ("user", "kernel")) -> list[RawStack]:
    """Parse any supported stack text, choosing the reader by `detect_format`."""
    kind = detect_format(text)
    if kind == "bpftrace":
        return parse_bpftrace(text, path, kinds)
    if kind == "folded":
        return parse_bcc_folded(text, path)
    return parse_address_lines(text, path)
