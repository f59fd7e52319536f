"""llvm-symbolizer's input syntax and its LLVM, GNU and JSON output styles."""

from __future__ import annotations

import os
import sys
from typing import TextIO

from .symbolized import SymbolizedFrame


def parse_address(token: str) -> int | None:
    """An address as llvm-symbolizer reads it: 0x hex, leading-0 octal, else decimal."""
    text = token.strip()
    try:
        if text[:2].lower() == "0x":
            return int(text[2:], 16)
        if len(text) > 1 and text[0] == "0":
            return int(text[1:], 8)
        return int(text, 10)
    except ValueError:
        return None


def parse_request(line: str, obj: str | None) -> tuple[str, int] | None:
    """(file, address) from one input: `ADDR`, or `FILE ADDR` without --obj; optional CODE prefix."""
    tokens = line.split()
    if tokens and tokens[0] == "CODE":
        tokens = tokens[1:]
    if obj is not None:
        if len(tokens) != 1:
            return None
        address = parse_address(tokens[0])
        return (obj, address) if address is not None else None
    if len(tokens) != 2:
        return None
    address = parse_address(tokens[1])
    return (tokens[0].strip('"'), address) if address is not None else None


class Printer:
    """Writes results in the style the flags ask for."""

    def __init__(self, args, out: TextIO):
        self.args = args
        self.out = out
        self.style = args.output_style
        self._batch: list[str] | None = [] if self.style == "JSON" and args.addresses else None

    # ---- names and paths ----------------------------------------------------------------

    def _function(self, frame: SymbolizedFrame) -> str:
        name = frame.function or "??"
        if self.args.functions == "short" and frame.function:
            name = _short_name(name)
        return name

    def _path(self, path: str | None) -> str:
        if path is None:
            return "??"
        if self.args.basenames:
            return os.path.basename(path)
        return path

    def _start_file(self, frame: SymbolizedFrame) -> str:
        return self._path(frame.start_file) if frame.start_file else ""

    def _location(self, frame: SymbolizedFrame) -> str:
        path = self._path(frame.file)
        line = frame.line or 0
        if self.style == "GNU":
            text = f"{path}:{line}"
            if frame.discriminator:
                text += f" (discriminator {frame.discriminator})"
            return text
        return f"{path}:{line}:{frame.column or 0}"

    # ---- outputs ------------------------------------------------------------------------

    def frames(self, module: str, address: int, frames: list[SymbolizedFrame]) -> None:
        if self.style == "JSON":
            self._json(module, address, frames)
            return
        out = []
        pretty = self.args.pretty_print
        if self.args.print_address:
            out.append(f"0x{address:x}: " if pretty else f"0x{address:x}\n")
        for i, frame in enumerate(frames):
            if pretty:
                prefix = " (inlined by) " if i else ""
                if self.args.functions == "none":
                    out.append(f"{prefix}{self._location(frame)}\n")
                else:
                    out.append(f"{prefix}{self._function(frame)} at {self._location(frame)}\n")
            elif self.args.verbose:
                out.append(self._verbose(frame))
            else:
                if self.args.functions != "none":
                    out.append(self._function(frame) + "\n")
                out.append(self._location(frame) + "\n")
        if self.style == "LLVM":
            out.append("\n")
        self.out.write("".join(out))

    def _verbose(self, frame: SymbolizedFrame) -> str:
        lines = [self._function(frame), f"  Filename: {self._path(frame.file)}"]
        if frame.start_line:
            lines += [f"  Function start filename: {self._start_file(frame)}",
                      f"  Function start line: {frame.start_line}"]
        if frame.start_address is not None:
            lines.append(f"  Function start address: 0x{frame.start_address:x}")
        lines += [f"  Line: {frame.line or 0}", f"  Column: {frame.column or 0}"]
        if frame.discriminator:
            lines.append(f"  Discriminator: {frame.discriminator}")
        return "\n".join(lines) + "\n"

    def _json(self, module: str, address: int, frames: list[SymbolizedFrame]) -> None:
        symbols = [{
            "Column": f.column or 0,
            "Discriminator": f.discriminator,
            "FileName": self._path(f.file) if f.file else "",
            "FunctionName": (self._function(f) if f.function else "") if self.args.functions != "none" else "",
            "Line": f.line or 0,
            "StartAddress": f"0x{f.start_address:x}" if f.start_address is not None else "",
            "StartFileName": self._start_file(f),
            "StartLine": f.start_line or 0,
        } for f in frames]
        self._emit_json({"Address": f"0x{address:x}", "ModuleName": module, "Symbol": symbols})

    def _emit_json(self, obj: dict) -> None:
        import json

        text = json.dumps(obj, separators=(",", ":"))
        if self._batch is not None:
            self._batch.append(text)
        else:
            self.out.write(text + "\n")

    def close(self) -> None:
        """Addresses given on the command line print as one JSON array, as llvm-symbolizer does."""
        if self._batch is not None:
            self.out.write("[" + ",".join(self._batch) + "]\n")
            self._batch = None

    def failure(self, module: str, address: int, message: str) -> None:
        if self.style == "JSON":
            self._emit_json({"Address": f"0x{address:x}", "Error": {"Message": message}, "ModuleName": module})
        else:
            print(f"LLVMSymbolizer: error reading file: {message}", file=sys.stderr)
            self.frames(module, address, [SymbolizedFrame(None)])

    def unparsable(self, text: str, module: str | None) -> None:
        if self.style == "JSON":
            obj = {"Error": {"Message": f"unable to parse arguments: {text}"}}
            if module is not None:
                obj["ModuleName"] = module
            self._emit_json(obj)
        else:
            self.out.write(text + "\n")


def _short_name(name: str) -> str:
    """LLVM's --functions=short: the name without parameters (and return type)."""
    depth = 0
    for i, ch in enumerate(name):
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif ch == "(" and depth == 0 and i:
            return name[:i]
    return name
