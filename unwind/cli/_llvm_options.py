"""llvm-symbolizer 14's command line, parsed as LLVM's OptTable parses it (llvm/tools/llvm-symbolizer/Opts.td).

Rules copied from LLVM 14 (`OptTable::parseOneArgGrouped`, `cl::expandResponseFiles`):
- `$LLVM_SYMBOLIZER_OPTS` is split like a shell line and comes first; `@FILE` arguments are replaced by
  the words of FILE (recursively); a missing FILE leaves `@FILE` as an input.
- Anything not starting with `-`, and `-` itself, is an input (an address, or `FILE ADDR`).
- The longest option spelling that starts the argument wins: a flag must be the whole argument, a
  joined option (`--obj=`) takes the rest, a separate one (`--obj`) the next argument, `-e` either.
- Short flags group (`-Cfi`); a short flag followed by `=` (`-i=false`) is one unknown argument; an
  unknown short letter is reported alone and the rest of the group goes on.
- Errors (`missing argument`, `unknown argument '...'` with LLVM's one-edit suggestion) go to stderr
  as `error: ...`, and the command exits 1 after reporting them all.
"""

# no `from __future__ import annotations`: NamedTuple would compile every string annotation (~1.5 ms)

import os
from typing import NamedTuple

from ..errors import UsageError


class Kind:
    """LLVM's option classes (plain strings: an Enum would cost the warm start-up its import)."""

    FLAG = "flag"
    JOINED = "joined"
    SEPARATE = "separate"
    JOINED_OR_SEPARATE = "joined-or-separate"


# (spelling, kind, option id): every spelling of llvm-symbolizer 14, aliases resolved to their option,
# plus our own --symfs, --debug-dir and --debuginfod (common options of the unwind subcommands).
_EQ = ("adjust-vma", "debug-file-directory", "default-arch", "dsym-hint", "dwp", "fallback-debug-path", "obj",
       "output-style", "print-source-context-lines", "symfs", "debug-dir", "debuginfod")
_FLAGS = ("addresses", "basenames", "demangle", "no-demangle", "dia", "functions", "help", "inlines", "no-inlines",
          "pretty-print", "relative-address", "relativenames", "untag-addresses", "no-untag-addresses", "verbose",
          "version")
OPTIONS: tuple[tuple[str, str, str], ...] = (
    *((f"--{name}", Kind.FLAG, name) for name in _FLAGS),
    *((f"--{name}=", Kind.JOINED, name) for name in _EQ),
    *((f"--{name}", Kind.SEPARATE, name) for name in _EQ),
    ("--functions=", Kind.JOINED, "functions="),
    ("--exe=", Kind.JOINED, "obj"), ("--exe", Kind.SEPARATE, "obj"),
    ("-e", Kind.JOINED_OR_SEPARATE, "obj"), ("-e=", Kind.JOINED, "obj"),
    ("--inlining", Kind.FLAG, "inlines"), ("--inlining=true", Kind.FLAG, "inlines"),
    ("--inlining=false", Kind.FLAG, "no-inlines"), ("--print-address", Kind.FLAG, "addresses"),
    ("-a", Kind.FLAG, "addresses"), ("-C", Kind.FLAG, "demangle"), ("-f", Kind.FLAG, "functions"),
    ("-f=", Kind.JOINED, "functions="), ("-h", Kind.FLAG, "help"), ("-i", Kind.FLAG, "inlines"),
    ("-p", Kind.FLAG, "pretty-print"), ("-s", Kind.FLAG, "basenames"), ("-v", Kind.FLAG, "version"),
    ("-demangle=true", Kind.FLAG, "demangle"), ("-demangle=false", Kind.FLAG, "no-demangle"),
)
# Longest spelling first: LLVM's table order tries a longer name before its prefixes.
_BY_LENGTH = sorted(OPTIONS, key=lambda o: -len(o[0]))
# LLVM's table order (case-insensitive, a name sorting after the longer names it prefixes): ties in
# the nearest-spelling search go to the first.
_BY_NAME = sorted(OPTIONS, key=lambda o: o[0].lstrip("-").lower() + "\uffff")


class SymbolizeArgs(NamedTuple):
    """What the command line asks for, with LLVM 14's defaults and last-one-wins rules.

    A NamedTuple, not a dataclass: the warm `unwind symbolize` path imports no dataclasses."""

    inputs: tuple[str, ...] = ()
    obj: str | None = None
    inlines: bool = True
    demangle: bool = True
    functions: str = "linkage"  # linkage | short | none
    output_style: str = "LLVM"  # LLVM | GNU | JSON
    print_address: bool = False
    pretty_print: bool = False
    basenames: bool = False
    relativenames: bool = False
    relative_address: bool = False
    verbose: bool = False
    adjust_vma: int = 0
    context_lines: int = 0
    debug_file_directory: tuple[str, ...] = ()
    dwp: str | None = None
    fallback_debug_path: str | None = None
    symfs: str | None = None
    debug_dir: tuple[str, ...] = ()
    debuginfod: str | None = None  # server URL(s); None: $DEBUGINFOD_URLS
    dsym_hints: tuple[str, ...] = ()  # Mach-O only: checked for the .dSYM extension, then unused
    help: bool = False
    version: bool = False
    errors: tuple[str, ...] = ()  # each printed as `error: ...`, then exit 1
    fatal: str | None = None  # a bad integer value: printed as LLVM prints it (no prefix, no newline), exit 1


def expand(argv: list[str], environ: dict[str, str] | None = None) -> list[str]:
    """$LLVM_SYMBOLIZER_OPTS words, then argv, with every readable @FILE replaced by its words."""
    env = os.environ if environ is None else environ
    initial = env.get("LLVM_SYMBOLIZER_OPTS", "")
    if not initial and not any(word.startswith("@") for word in argv):
        return list(argv)
    import shlex  # (and re, enum): only for response files and the environment variable

    words = shlex.split(initial) + list(argv)
    out: list[str] = []
    budget = 64  # @FILE nesting/expansion bound, as a cycle guard
    while words:
        word = words.pop(0)
        if word.startswith("@") and budget:
            try:
                with open(word[1:], encoding="utf-8", errors="surrogateescape") as fh:
                    text = fh.read()
            except OSError:
                out.append(word)
                continue
            budget -= 1
            words[:0] = shlex.split(text)
            continue
        out.append(word)
    return out


def parse(argv: list[str], environ: dict[str, str] | None = None) -> SymbolizeArgs:
    """The options and inputs of `argv`; parse errors are collected in `.errors`, never raised."""
    args = expand(argv, environ)
    seen: list[tuple[str, str | None, str]] = []  # (option id, value, spelling) in command-line order
    inputs: list[str] = []
    errors: list[str] = []
    unknown: list[str] = []
    i = 0
    while i < len(args):
        text = args[i]
        if not text:  # LLVM ignores empty arguments (an option may still take one as its value)
            i += 1
            continue
        if not text.startswith("-") or text == "-":
            inputs.append(text)
            i += 1
            continue
        result = _match(text, args, i)
        if result is None:  # a separate value is missing: LLVM stops parsing here
            errors.append(f"{text}: missing argument")
            break
        consumed, option, value, rest, spelling = result
        if option is None:
            unknown.append(value or text)
        else:
            seen.append((option, value, spelling))
        if rest is not None:
            args[i] = rest  # the rest of a short-flag group, parsed next
        else:
            i += consumed
    errors += [_unknown_message(u) for u in unknown]
    return _fold(seen, inputs, errors)


def _match(text: str, args: list[str], i: int) -> tuple[int, str | None, str | None, str | None, str] | None:
    """(arguments consumed, option id or None if unknown, value, rest of a short group, spelling) for args[i]."""
    fallback = None
    for spelling, kind, option in _BY_LENGTH:
        if not text.startswith(spelling):
            continue
        if kind == Kind.FLAG:
            if len(text) == len(spelling):
                return 1, option, None, None, spelling
            if len(spelling) == 2:
                fallback = (option, spelling)
            continue
        if kind == Kind.JOINED:
            return 1, option, text[len(spelling):], None, spelling
        if len(text) > len(spelling):
            if kind == Kind.JOINED_OR_SEPARATE:
                return 1, option, text[len(spelling):], None, spelling
            continue  # a separate option must be the whole argument
        if i + 1 >= len(args):
            return None
        return 2, option, args[i + 1], None, spelling
    if fallback is not None:
        if text[2] == "=":  # a short flag given a value: the whole argument is unknown
            return 1, None, text, None, text
        return 1, fallback[0], None, "-" + text[2:], fallback[1]
    if text[1] != "-":
        return 1, None, text[:2], "-" + text[2:] if len(text) > 2 else None, text[:2]
    return 1, None, text, None, text


def _unknown_message(text: str) -> str:
    nearest, distance = _nearest(text)
    if distance > 1:
        return f"unknown argument '{text}'"
    return f"unknown argument '{text}', did you mean '{nearest}'?"


def _nearest(text: str) -> tuple[str, int]:
    """LLVM's OptTable::findNearest: the spelling within the fewest edits (a joined '=' value kept aside)."""
    best, best_distance = "", 1 << 30
    for spelling, _kind, _ in _BY_NAME:
        if len(spelling.lstrip("-")) < 4:  # LLVM's MinimumLength: short names are never suggested
            continue
        lhs, rhs, normalized = text, "", text
        has_delimiter = spelling.endswith("=")
        if has_delimiter:
            lhs, _, rhs = text.partition("=")
            normalized = lhs + ("=" if "=" in text else "")
        distance = _edit_distance(spelling, normalized)
        if has_delimiter and not rhs:
            distance += 1
        if distance < best_distance:
            best, best_distance = spelling + rhs, distance
    return best, best_distance


def _edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def _fold(seen: list[tuple[str, str | None, str]], inputs: list[str], errors: list[str]) -> SymbolizeArgs:
    """Options in order -> SymbolizeArgs, as llvm-symbolizer.cpp reads its InputArgList."""
    last: dict[str, str | None] = {}
    present: set[str] = set()
    inlines, demangle = True, True
    dirs: list[str] = []
    debug_dirs: list[str] = []
    hints: list[str] = []
    paths = "absolute"  # the last of --basenames / --relativenames decides
    for option, value, _ in seen:
        present.add(option)
        last[option] = value
        if option in ("inlines", "no-inlines"):
            inlines = option == "inlines"
        elif option in ("demangle", "no-demangle"):
            demangle = option == "demangle"
        elif option == "debug-file-directory":
            dirs.append(value or "")
        elif option == "debug-dir":
            debug_dirs.append(value or "")
        elif option == "dsym-hint":
            hints.append(value or "")
        elif option in ("basenames", "relativenames"):
            paths = "basename" if option == "basenames" else "relative"
    if "functions" in present:  # a bare --functions/-f anywhere means linkage names
        functions = "linkage"
    else:
        functions = {"none": "none", "short": "short"}.get(last.get("functions=") or "", "linkage")
    style = last.get("output-style")
    adjust, context, fatal = 0, 0, None
    try:
        if "adjust-vma" in last:
            adjust = _integer(last["adjust-vma"] or "", signed=False,
                              what="--adjust-vma=")  # the joined spelling, whatever was typed
        if "print-source-context-lines" in last:
            context = _integer(last["print-source-context-lines"] or "", signed=True,
                               what="--print-source-context-lines=")
    except UsageError as exc:
        fatal = str(exc)
    return SymbolizeArgs(
        inputs=tuple(inputs), obj=last.get("obj"), inlines=inlines, demangle=demangle, functions=functions,
        output_style=style if style in ("GNU", "JSON") else "LLVM", print_address="addresses" in present,
        pretty_print="pretty-print" in present, basenames=paths == "basename",
        relativenames=paths == "relative", relative_address="relative-address" in present,
        verbose="verbose" in present, adjust_vma=adjust, context_lines=context, debug_file_directory=tuple(dirs),
        dwp=last.get("dwp"), fallback_debug_path=last.get("fallback-debug-path"), symfs=last.get("symfs"),
        debug_dir=tuple(debug_dirs), debuginfod=last.get("debuginfod"), dsym_hints=tuple(hints),
        help="help" in present, version="version" in present, errors=tuple(errors), fatal=fatal)


def _integer(text: str, signed: bool, what: str) -> int:
    """llvm::to_integer(text, value, 0): 0x/0b/0o/0 prefixes, whole string, 64 bits; UsageError otherwise."""
    value = parse_integer(text, signed)
    if value is None:
        raise UsageError(f"{what}: expected a non-negative integer, but got '{text}'")  # LLVM: no newline
    return value


_DIGITS = {2: frozenset("01"), 8: frozenset("01234567"), 10: frozenset("0123456789"),
           16: frozenset("0123456789abcdefABCDEF")}


def parse_integer(text: str, signed: bool = False) -> int | None:
    """StringRef::getAsInteger(0, ...): auto-sensed radix, every character a digit, fits 64 bits."""
    negative = signed and text.startswith("-")
    body = text[1:] if negative else text
    radix = 10
    if body[:2] in ("0x", "0X"):
        body, radix = body[2:], 16
    elif body[:2] in ("0b", "0B"):
        body, radix = body[2:], 2
    elif body[:2] == "0o":
        body, radix = body[2:], 8
    elif len(body) > 1 and body[0] == "0" and body[1].isdigit():
        body, radix = body[1:], 8
    if not body or not _DIGITS[radix].issuperset(body):  # int() would also take '_', spaces and signs
        return None
    value = int(body, radix)
    if value >> (63 if signed else 64):
        return None
    return -value if negative else value
