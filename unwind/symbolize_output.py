"""llvm-symbolizer 14's input syntax and its LLVM, GNU and JSON output styles
(lib/DebugInfo/Symbolize/DIPrinter.cpp)."""

# Annotations are evaluated at import (no `from __future__ import annotations`): typing compiles the
# string annotation of every NamedTuple field, ~0.5 M instructions each (NOTES.md, issue 16).

import re
import sys
from typing import TYPE_CHECKING, Callable, NamedTuple, Sequence, TextIO

from formats.stack import Frame

if TYPE_CHECKING:
    from .frame_locals import FrameLocal

BAD_STRING = "<invalid>"  # LLVM's DILineInfo::BadString: "no name" / "no file" inside a DILineInfo
_DELIMITERS = " \n\r"
_TOKEN = r"[ \n\r]*([^ \n\r]*)"  # delimiters skipped, then the next token (compiled on first use: re's cache)
_EMPTY, _QUOTE = '""', '"'  # an empty JSON string, and the quote (f-string expressions take no quotes)


class Request(NamedTuple):
    """One parsed input: CODE or DATA, the module, the address as written (before --adjust-vma)."""

    command: str  # "CODE" | "DATA" | "FRAME"
    module: str
    address: int


class Invalid(NamedTuple):
    """An input line llvm-symbolizer cannot parse: echoed (JSON: an error object naming the module)."""

    module: str
    text: str


def parse_address(token: str) -> int | None:
    """An offset as llvm-symbolizer reads it: StringRef::getAsInteger with an auto-sensed radix."""
    from .cli._llvm_options import parse_integer

    return parse_integer(token)


def parse_request(line: str, obj: str | None) -> Request | Invalid:
    """LLVM 14's parseCommand: optional `CODE `/`DATA `/`FRAME ` prefix, then `[FILE] OFFSET`.

    FILE may be quoted ("..." or '...'); separators are space, CR and LF; text after the offset
    is ignored.
    """
    command, text = "CODE", line
    for prefix in ("CODE ", "DATA ", "FRAME "):
        if line.startswith(prefix):
            command, line = prefix[:-1], line[len(prefix):]
            break
    original, pos, module = text, 0, ""
    if not obj:
        pos = _skip(line, pos)
        if pos < len(line) and line[pos] in "\"'":
            end = line.find(line[pos], pos + 1)
            if end < 0:
                return Invalid("", original)
            module, pos = line[pos + 1:end], end + 1
        else:
            end = _token_end(line, pos)
            module, pos = line[pos:end], end
    else:
        module = obj
    token = re.compile(_TOKEN).match(line, pos)
    assert token is not None  # every part of the pattern may match empty
    address = parse_address(token.group(1))
    if address is None:
        return Invalid(module, original)
    return Request(command, module, address)


# A block of lines that are each `0x` and 1-16 hex digits and nothing else: parse_request reads each as
# CODE at that address of --obj (16 hex digits always fit 64 bits); anything else takes the general parser.
_PLAIN = re.compile(rb"0[xX][0-9a-fA-F]{1,16}(?:\n0[xX][0-9a-fA-F]{1,16})*")


def plain_addresses(block: bytes) -> list[int] | None:
    """The addresses of a newline-separated block of plain hex lines, as parse_request reads them with an
    --obj; None when any line is anything else."""
    if _PLAIN.fullmatch(block) is None:
        return None
    return [int(line, 16) for line in block.split(b"\n")]


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _DELIMITERS:
        pos += 1
    return pos


def _token_end(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] not in _DELIMITERS:
        pos += 1
    return pos


class PrintOptions(NamedTuple):
    """What the printer needs from llvm-symbolizer's flags."""

    style: str = "LLVM"  # LLVM | GNU | JSON
    functions: str = "linkage"  # linkage | short | none
    pretty: bool = False
    print_address: bool = False
    verbose: bool = False
    basenames: bool = False  # applied by the Symbolizer (base_names); kept for callers that set it
    context_lines: int = 0
    listed: bool = False  # addresses came from the command line: JSON prints one array


class Printer:
    """Writes results exactly as LLVM 14's PlainPrinterBase / LLVMPrinter / GNUPrinter / JSONPrinter.

    Output is held until `flush` (or `close`), then written at once: one write per batch of answers.
    """

    def __init__(self, options: PrintOptions, out: TextIO, err: TextIO | None = None,
                 embedded: Callable[[str, str], str | None] | None = None):
        """`embedded(module, file)`: the file's text embedded in the module's DWARF, for source context."""
        self.options = options
        self.out = out
        self.err = err if err is not None else sys.stderr
        self._embedded = embedded
        self._module = ""
        self.style = options.style
        self._batch: list[str] | None = [] if self.style == "JSON" and options.listed else None
        self._pending: list[str] = []  # text not yet written: `flush` writes it in one go

    # ---- names and paths ----------------------------------------------------------------

    def _path(self, path: str | None) -> str:
        """A file name as the plain printers show it: LLVM's "no file" string, BadString, as `??`."""
        if path is None or path == BAD_STRING:
            return "??"
        return path

    # ---- CODE answers -------------------------------------------------------------------

    def frames(self, module: str, address: int, frames: list[Frame]) -> None:
        """One address's frames (innermost first); an empty list prints one unknown frame."""
        self.frames_many(module, (address,), (frames,))

    def frames_many(self, module: str, addresses: Sequence[int], answers: Sequence[list[Frame]]) -> None:
        """`frames` for each address and its answer, in order: one pass, one string per address."""
        self._module = module
        if self.style == "JSON":
            self._json_many(module, addresses, answers)
            return
        o = self.options
        add = self._pending.append
        named, pretty, verbose, context = o.functions != "none", o.pretty, o.verbose, o.context_lines
        gnu, header = self.style == "GNU", o.print_address
        if named and not (pretty or verbose or context or gnu):  # the default: the loop below's text, one
            for address, frames in zip(addresses, answers):      # f-string a frame
                if header:
                    add(f"0x{address:x}\n")
                for frame in frames or (Frame(address),):
                    symbol, file = frame[4], frame[5]
                    add(f"{symbol if symbol and symbol != BAD_STRING else '??'}\n"
                        f"{'??' if file is None or file == BAD_STRING else file}:{frame[6] or 0}:{frame[7] or 0}\n")
                add("\n")
            return
        separator, tail = " at " if pretty else "\n", "" if gnu else "\n"
        for address, frames in zip(addresses, answers):
            if header:
                add(f"0x{address:x}: " if pretty else f"0x{address:x}\n")
            for i, frame in enumerate(frames or (Frame(address),)):
                _, _, _, _, symbol, file, line, column, _, _, _, _, _, start_line, start_file, start_address, \
                    discriminator = frame
                if named:
                    name = symbol if symbol and symbol != BAD_STRING else "??"
                    add(f" (inlined by) {name}{separator}" if pretty and i else f"{name}{separator}")
                filename = "??" if file is None or file == BAD_STRING else file
                line = line or 0
                if verbose:
                    add(f"  Filename: {filename}\n")
                    if start_line:
                        add(f"  Function start filename: {start_file or ''}\n"  # as LLVM: unreplaced
                            f"  Function start line: {start_line}\n")
                    if start_address is not None and not gnu:  # GNUPrinter prints no start address
                        add(f"  Function start address: 0x{start_address:x}\n")
                    add(f"  Line: {line}\n  Column: {column or 0}\n")
                    if discriminator:
                        add(f"  Discriminator: {discriminator}\n")
                    continue
                if not gnu:
                    add(f"{filename}:{line}:{column or 0}\n")
                elif discriminator:
                    add(f"{filename}:{line} (discriminator {discriminator})\n")
                else:
                    add(f"{filename}:{line}\n")
                if context:
                    add(source_context(filename, line, context, self._embedded_text(file)))
            if tail:
                add(tail)

    def _header(self, address: int) -> str:
        if not self.options.print_address:
            return ""
        return f"0x{address:x}: " if self.options.pretty else f"0x{address:x}\n"

    def _json_many(self, module: str, addresses: Sequence[int], answers: Sequence[list[Frame]]) -> None:
        """JSON objects as `json.dumps(obj, separators=(",", ":"), sort_keys=True)` prints them, the common
        keys laid out by hand (ints, and strings through json's own encoder)."""
        from json.encoder import encode_basestring_ascii as quote  # what json.dumps calls for a str

        if self.options.context_lines:  # a "Source" key in some frames: the general writer
            for address, frames in zip(addresses, answers):
                self._json(module, address, frames)
            return
        named = self.options.functions != "none"
        head = f',"ModuleName":{quote(module)},"Symbol":['
        texts = []
        for address, frames in zip(addresses, answers):
            symbols = []
            for frame in frames:
                _, _, _, _, symbol, file, line, column, _, _, _, _, _, start_line, start_file, start_address, \
                    discriminator = frame
                symbols.append(
                    f'{{"Column":{column or 0},"Discriminator":{discriminator},'
                    f'"FileName":{quote(file) if file and file != BAD_STRING else _EMPTY},'
                    f'"FunctionName":{quote(symbol) if named and symbol and symbol != BAD_STRING else _EMPTY},'
                    f'"Line":{line or 0},'
                    f'"StartAddress":{_EMPTY if start_address is None else f"{_QUOTE}0x{start_address:x}{_QUOTE}"},'
                    f'"StartFileName":{quote(start_file) if start_file and start_file != BAD_STRING else _EMPTY},'
                    f'"StartLine":{start_line or 0}}}')
            texts.append(f'{{"Address":"0x{address:x}"{head}{",".join(symbols)}]}}')
        if self._batch is not None:
            self._batch.extend(texts)
        elif texts:
            self._pending.append("\n".join(texts) + "\n")

    def _json(self, module: str, address: int, frames: list[Frame]) -> None:
        symbols = []
        for f in frames:
            entry: dict[str, object] = {
                "Column": f.column or 0,
                "Discriminator": f.discriminator,
                "FileName": _json_name(f.file),
                "FunctionName": _json_name(f.symbol) if self.options.functions != "none" else "",
                "Line": f.line or 0,
                "StartAddress": f"0x{f.start_address:x}" if f.start_address is not None else "",
                "StartFileName": _json_name(f.start_file),
                "StartLine": f.start_line or 0,
            }
            source = source_context(self._path(f.file) if f.file else "<invalid>", f.line or 0,
                                    self.options.context_lines, self._embedded_text(f.file))
            if source:
                entry["Source"] = source
            symbols.append(entry)
        self._emit_json({"Address": f"0x{address:x}", "ModuleName": module, "Symbol": symbols})

    def _embedded_text(self, file: str | None) -> str | None:
        if not self.options.context_lines or self._embedded is None or not file:
            return None
        return self._embedded(self._module, file)

    # ---- DATA answers -------------------------------------------------------------------

    def data(self, module: str, address: int, name: str | None, start: int, size: int) -> None:
        """A DATA request: the symbol-table entry holding the address (DIGlobal: name, start, size)."""
        if self.style == "JSON":
            self._emit_json({"Address": f"0x{address:x}", "Data": {"Name": name or "", "Size": f"0x{size:x}",
                                                                   "Start": f"0x{start:x}"}, "ModuleName": module})
            return
        tail = "\n" if self.style == "LLVM" else ""
        self._pending.append(f"{self._header(address)}{name or '??'}\n{start} {size}\n{tail}")

    # ---- FRAME answers ------------------------------------------------------------------

    def frame_locals(self, module: str, address: int, variables: "list[FrameLocal]") -> None:
        """A FRAME request: per variable (unwind.frame_locals.FrameLocal) function, name, decl file:line,
        frame offset, size and tag offset; `??` for an unset field, one `??` line when there is none."""
        if self.style == "JSON":
            entries = []
            for v in variables:
                entry: dict[str, object] = {
                    "DeclFile": v.decl_file or "", "DeclLine": v.decl_line, "FunctionName": v.function or "",
                    "Name": v.name or "", "Size": f"0x{v.size:x}" if v.size is not None else "",
                    "TagOffset": f"0x{v.tag_offset:x}" if v.tag_offset is not None else ""}
                if v.frame_offset is not None:
                    entry["FrameOffset"] = v.frame_offset
                entries.append(entry)
            self._emit_json({"Address": f"0x{address:x}", "Frame": entries, "ModuleName": module})
            return
        out = [self._header(address)]
        if not variables:
            out.append("??\n")
        for v in variables:
            out.append(f"{v.function or '??'}\n{v.name or '??'}\n{v.decl_file or '??'}:{v.decl_line}\n"
                       f"{_or_unknown(v.frame_offset)} {_or_unknown(v.size)} {_or_unknown(v.tag_offset)}\n")
        if self.style == "LLVM":
            out.append("\n")
        self._pending.append("".join(out))

    # ---- errors and the rest ------------------------------------------------------------

    def failure(self, request: Request, message: str) -> None:
        """The module could not be read: the error once, then (plain styles) an empty answer."""
        if self.style == "JSON":
            self._emit_json({"Address": f"0x{request.address:x}", "Error": {"Message": message},
                             "ModuleName": request.module})
            return
        self.flush()  # the answers before it first, as an unbuffered stdout would show them
        print(f"LLVMSymbolizer: error reading file: {message}", file=self.err)
        if request.command == "DATA":
            self.data(request.module, request.address, None, 0, 0)
        elif request.command == "FRAME":
            self.frame_locals(request.module, request.address, [])
        else:
            self.frames(request.module, request.address, [])

    def unparsable(self, invalid: Invalid) -> None:
        if self.style == "JSON":
            self._emit_json({"Error": {"Message": f"unable to parse arguments: {invalid.text}"},
                             "ModuleName": invalid.module})
        else:
            self._pending.append(invalid.text + "\n")

    def _emit_json(self, obj: dict[str, object]) -> None:
        import json

        text = json.dumps(obj, separators=(",", ":"), sort_keys=True)
        if self._batch is not None:
            self._batch.append(text)
        else:
            self._pending.append(text + "\n")

    def close(self) -> None:
        """Addresses given on the command line print as one JSON array, as llvm-symbolizer does."""
        if self._batch is not None:
            self._pending.append("[" + ",".join(self._batch) + "]\n")
            self._batch = None
        self.flush()

    def flush(self) -> None:
        """Write what the answers so far printed, in one write, and flush the stream (a driver waiting for
        a batch's answers gets them now)."""
        if self._pending:
            self.out.write("".join(self._pending))
            self._pending.clear()
        self.out.flush()


def _or_unknown(value: int | None) -> str:
    return "??" if value is None else str(value)


def _json_name(name: str | None) -> str:
    """A name or file name in LLVM 14's JSON: absent and BadString ("<invalid>") both print as ""."""
    return name if name and name != BAD_STRING else ""


def source_context(path: str | None, line: int, lines: int, embedded: str | None = None) -> str:
    """LLVM 14's SourceCode + printContext: `lines` lines around `line` read from `path` as printed.

    FirstLine = max(1, line - lines / 2); each line numbered to ceil(log10(LastLine)) digits, the
    asked line marked `>`; nothing when the file cannot be read or is shorter than FirstLine.
    """
    if lines <= 0 or path is None:
        return ""
    first = max(1, line - lines // 2)
    last = first + lines - 1
    if embedded is not None:  # the line table's own copy wins over the file on disk, as in LLVM
        text = embedded
    else:
        try:
            with open(path, "rb") as fh:
                text = fh.read().decode("utf-8", "surrogateescape")
        except OSError:
            return ""
    first_pos, pos, number = -1, 0, 1
    while number <= last:  # SourceCode::pruneSource
        if number == first:
            first_pos = pos
        pos = text.find("\n", pos)
        if pos < 0:
            break
        number += 1
        pos += 1
    if first_pos < 0:
        return ""
    pruned = text[first_pos:] if pos < 0 else text[first_pos:pos]
    rows = pruned.split("\n")
    if rows and not rows[-1]:
        rows.pop()  # line_iterator: a final newline ends the last line, it does not start one
    import math

    width = math.ceil(math.log10(last)) if last > 0 else 0
    out = []
    for k, content in enumerate(rows):
        number = first + k
        content = content[:-1] if content.endswith("\r") else content
        out.append(f"{number:>{width}}{' >: ' if number == line else '  : '}{content}\n")
    return "".join(out)
