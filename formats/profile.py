"""Every profile writer by name: stacks in, the format's bytes out (writers are imported on use)."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any, Iterable

from .errors import UnwindError
from .stack import Stack

if TYPE_CHECKING:
    from .stack import RawStackJson, StackJson
from .text import raw_bytes, valid_text

# format name -> "module:function" of its writer, imported on use (pprof pulls in protobuf).
WRITERS = {
    "perf-script": "perfscript:write_perf_script",
    "json": "profile:write_json",
    "folded": "folded:write_folded",
    "pprof": "pprof:write_pprof",
    "speedscope": "speedscope:write_speedscope",
    "svg": "flamegraph:write_flamegraph_samples",
}
OUTPUT_FORMATS = tuple(WRITERS)
BYTE_FORMATS = ("perf-script", "folded")  # text of bytes, as perf script and stackcollapse print it; others are UTF-8


def stack_json(stack: Stack) -> StackJson | RawStackJson:
    """One JSON line's object: an unwound sample (it has a stop reason), or a raw stack and its count."""
    if stack.stop is None:
        return {"comm": stack.comm, "pid": stack.pid, "tid": stack.tid, "count": stack.count,
                "frames": [f.to_json() for f in stack.frames]}
    return stack.to_json()


def write_json(stacks: Iterable[Stack]) -> str:
    """One compact JSON object per stack and line (DESIGN.md's sample shape)."""
    import json  # here: perf-script output, the usual one, needs no json

    return "".join(json.dumps(stack_json(s), separators=(",", ":")) + "\n" for s in stacks)


def write_profile(stacks: Iterable[Stack], fmt: str, **options: Any) -> bytes:
    """Render stacks in one of OUTPUT_FORMATS."""
    target = WRITERS.get(fmt)
    if target is None:
        raise UnwindError(f"unknown output format {fmt!r}; expected one of {', '.join(OUTPUT_FORMATS)}")
    module, function = target.split(":")
    result = getattr(import_module(f"{__package__}.{module}"), function)(stacks, **options)
    return result if isinstance(result, bytes) else encode_output(result, fmt)


def encode_output(text: str, fmt: str) -> bytes:
    """A writer's text as the bytes of format `fmt` (never a UnicodeEncodeError)."""
    if fmt in BYTE_FORMATS:  # perf's convention: a name's undecodable bytes come out as they went in
        return raw_bytes(text)
    return valid_text(text).encode()
