"""Text out, whatever bytes came in: perf's convention for names that are not valid UTF-8.

Names read from binaries, cores and stack text keep their undecodable bytes as lone surrogates
(`surrogateescape`, U+DC80..U+DCFF).  Writers of byte-oriented text (perf-script, folded,
llvm-symbolizer's output) give those bytes back exactly as they were, as perf and
llvm-symbolizer do: they print the raw bytes.  Writers of formats that must be valid UTF-8
(JSON, pprof's protobuf strings, speedscope, SVG) put U+FFFD in their place.  Any other lone
surrogate (only a foreign JSON or pprof input can carry one) becomes U+FFFD in both.
"""

from __future__ import annotations

import re

_FOREIGN_SURROGATE = re.compile("[\ud800-\udc7f\udd00-\udfff]")


def raw_bytes(text: str) -> bytes:
    """`text` as the bytes it was read from (escaped bytes restored): perf script's and llvm-symbolizer's output."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that escapes no byte
        return _FOREIGN_SURROGATE.sub("\ufffd", text).encode("utf-8", "surrogateescape")


def valid_text(text: str) -> str:
    """`text` with every escaped byte and lone surrogate replaced by U+FFFD: safe for any UTF-8 encoder."""
    if text.isascii():
        return text
    return raw_bytes(text).decode("utf-8", "replace")
