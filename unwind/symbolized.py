"""What the symboliser returns for one (possibly inlined) function at an address."""

from __future__ import annotations

from typing import NamedTuple


class SymbolizedFrame(NamedTuple):
    """What one (possibly inlined) function at an address resolves to.

    A NamedTuple rather than a dataclass: it is built once per frame per address on the
    symboliser's hot path, where a tuple is four times cheaper to make.
    """

    function: str | None
    file: str | None = None
    line: int | None = None
    column: int | None = None
    inlined: bool = False
    start_line: int | None = None
    discriminator: int = 0
    start_address: int | None = None
    start_file: str | None = None
