"""Record real programs with `perf record --call-graph dwarf` for the perf tests and bench/perf.py."""

from __future__ import annotations

import functools
import os
import re
import subprocess
from pathlib import Path

CXX_PROGRAM = r"""
#include <algorithm>
#include <map>
#include <string>
#include <vector>
#include <cstdio>
int main() {
    std::map<std::string, std::vector<int>> m;
    long total = 0;
    for (int round = 0; round < 60; round++) {
        std::vector<int> v(200000);
        for (size_t i = 0; i < v.size(); i++) v[i] = (i * 2654435761u + round) % 1000003;
        std::sort(v.begin(), v.end());
        m[std::to_string(round % 7)] = v;
        total += v[v.size() / 2];
    }
    std::printf("%ld\n", total);
}
"""

PY_WORK = "import json\nd=[{'k':i,'v':[j*j for j in range(50)]} for i in range(4000)]\n" \
          "for _ in range(ROUNDS): s=json.dumps(d); json.loads(s); sorted(d, key=lambda x: -x['k'])\n"

SQL = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<400000) " \
      "SELECT count(*), sum(x*x % 97), group_concat(substr(hex(x),1,2),'') IS NOT NULL FROM c;"


def workloads(tmp: Path, rounds: int = 6) -> dict[str, list[str]]:
    """name -> argv of short CPU-bound runs of real Debian programs (and a C++ one on the debug libstdc++);
    `rounds` sets how long the python ones run."""
    py_work = PY_WORK.replace("ROUNDS", str(rounds))
    data = tmp / "gzip-input"
    if not data.exists():
        data.write_bytes(Path("/usr/bin/python3.11d").read_bytes()[:6_000_000])
    cxx = tmp / "cxx-sort"
    if not cxx.exists():
        (tmp / "cxx-sort.cc").write_text(CXX_PROGRAM)
        subprocess.run(["g++", "-O2", "-g", str(tmp / "cxx-sort.cc"), "-o", str(cxx)], check=True)
    return {
        "python3.11": ["/usr/bin/python3.11", "-c", py_work],
        "python3.11d": ["/usr/bin/python3.11d", "-c", py_work.replace("4000", "800")],
        "gzip": ["/usr/bin/gzip", "-6", "-c", str(data)],
        "sqlite3": ["/usr/bin/sqlite3", ":memory:", SQL],
        "cxx-debug-libstdc++": [str(cxx)],
    }


def record(tmp: Path, name: str, argv: list[str], frequency: int = 1000) -> Path:
    """perf.data of one run (DWARF call graphs, user + kernel)."""
    out = tmp / f"{name}.perf.data"
    env = dict(os.environ)
    if name == "cxx-debug-libstdc++":
        env["LD_LIBRARY_PATH"] = "/usr/lib/x86_64-linux-gnu/debug"
    # run in `tmp`: what a program writes to its working directory (node's isolate-*-v8.log) stays there
    subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", str(frequency), "--call-graph", "dwarf",
                    "-o", str(out), "--", *argv], check=True, env=env, stdout=subprocess.DEVNULL, cwd=tmp)
    return out


def perf_script_text(path: Path) -> str:
    """What `perf script -F comm,pid,tid,time,ip,sym,dso --no-inline` prints for a recording."""
    return subprocess.run(["perf", "script", "-i", str(path), "-F", "comm,pid,tid,time,ip,sym,dso", "--no-inline"],
                          capture_output=True, text=True, check=True).stdout


def user_frames(sample) -> list[tuple[str | None, str | None]]:
    """(module, function) of every user frame; symbol versions (`@@GLIBC_2.34`) do not count, a PLT entry's
    `@plt` does."""
    return [(f.module, _unversioned(f.symbol)) for f in sample.frames if not f.kernel]


def _unversioned(symbol: str | None) -> str | None:
    name = (symbol or "").split("@")[0]
    return (f"{name}@plt" if symbol and symbol.endswith("@plt") else name) or None


def agreement(ours_text: str, theirs_text: str) -> tuple[int, int, list]:
    """(samples whose user frames agree, samples, the differing pairs) between two perf-script texts."""
    from formats.perfscript import parse_perf_script

    ours, theirs = list(parse_perf_script(ours_text)), list(parse_perf_script(theirs_text))
    if len(ours) != len(theirs):
        return 0, len(theirs), [("sample count", len(ours), len(theirs))]
    diffs = [(user_frames(a), user_frames(b)) for a, b in zip(ours, theirs) if user_frames(a) != user_frames(b)]
    return len(theirs) - len(diffs), len(theirs), diffs


UNKNOWN = (None, None)


def explained_difference(ours: list, perfs: list) -> str | None:
    """Why two user-frame lists differ where perf 6.1 is the one that is wrong, or None if unexplained.

    perf's libunwind ignores the last 8 bytes of the stack copy (so it loses an outermost frame we
    still read), prints a frame for a zero return address as `ffffffffffffffff [unknown]`, and
    where code has no CFI (e.g. a `_fini` stub) guesses on until it lands on a frame that is no
    code at all (`[stack]`), where we stop with no-unwind-info.
    """
    repaired = named_as_plt_entry(ours, perfs)
    if repaired is not None:  # perf 6.1's unnamed PLT entries named as ours; the rest compared as before
        if repaired == ours or goes_on_past_perf(ours, repaired):
            return PLT_UNNAMED
        why = explained_difference(ours, repaired)
        return f"{why}; {PLT_UNNAMED}" if why else None
    repaired = named_as_newer_map_entry(ours, perfs)
    if repaired is not None:  # perf's frame in the JIT code unnamed; the rest compared as perf would give it
        if repaired == ours or goes_on_past_perf(ours, repaired):
            return MAP_MISS
        why = explained_difference(ours, repaired)
        return f"{why}; {MAP_MISS}" if why else None
    if ours[:-1] == perfs and ours[-1][0] is not None:  # our extra frame in mapped code, not a guess
        return "perf stops one frame early (its stack bound ignores the copy's last 8 bytes)"
    if perfs and perfs[-1] == UNKNOWN and (ours == perfs[:-1] or goes_on_past_perf(ours, perfs[:-1])):
        return "perf ends in a bogus [unknown] frame"  # where ours has one or more frames in mapped code
    if len(perfs) > 1 and goes_on_past_perf(ours, perfs[:-1]) and is_data_symbol(*perfs[-1]):
        # frame 0 in code without CFI at exit (libgcc_s): perf's frame-chain guess ends at a "return address"
        # in libc's data (`__quick_exit_funcs`), where ours goes on: exit, __libc_start_call_main, _start
        return "perf ends in a bogus frame in a data object"
    if perfs and perfs[-1][0] in ("[stack]", "[heap]") and perfs[:len(ours)] == ours:
        return "perf guesses past code without CFI and ends in a frame inside [stack]"
    if skips_callers_of_frame0(ours, perfs):
        return "perf follows rbp from a frame 0 without CFI that has no frame of its own, skipping its caller"
    if skips_callers_of_frame(ours, perfs) is not None:
        return "perf follows rbp from a caller frame without CFI that has no frame of its own, skipping its caller"
    if len(perfs) > 2 and is_bogus_frame(*perfs[-1]) and ours[-1][0] is not None and (
            skips_callers_of_frame0(ours, perfs[:-1]) or skips_callers_of_frame(ours, perfs[:-1]) is not None):
        # Both at once: a sample at exit in a CFI-less `_fini` (libm's, or crti's in a Rust program, called by
        # ld.so's _dl_fini): perf's frame-chain guess lands in __run_exit_handlers, skipping _dl_fini, and ends
        # in [unknown], [stack] or libc's data (`__quick_exit_funcs`), where ours goes on: exit, ..., _start.
        return "perf skips a caller of a frame without CFI, then ends in a bogus frame"
    return None


def is_bogus_frame(module: str | None, name: str | None) -> bool:
    """A frame perf's frame-chain guess ends in that cannot hold a return address: [unknown], a data object, or
    the stack or heap."""
    return (module, name) == UNKNOWN or module in ("[stack]", "[heap]") or is_data_symbol(module, name)


PLT_UNNAMED = ("perf 6.1 names PLT entries wrong: none where .plt's sh_entsize is 0 (lld, mold; perf 6.3's 66fe2d53a067 "
               "\"Correct plt entry sizes for x86\" fixed it), by .rela.plt's order where IRELATIVE entries break GOT "
               "order (libc's; 78250284b157 \"Sort plt relocations for x86\"), or crti's size-0 `_init`/`_fini` "
               "stretched by its symbol-end fixup over the .plt after it; and no name for the lazy header")


def named_as_plt_entry(ours: list, perfs: list) -> list | None:
    """perf's frames with its misnamed PLT entries named as ours, where ours is a `name@plt` entry of the same
    module and perf has [unknown] (that module's .plt has no usable sh_entsize: perf 6.1's get_plt_sizes takes
    the entry size from it on x86, and makes no PLT symbols from 0), `_init` or `_fini` (crti's size-0 `_init`
    right before GNU ld's .plt, `_fini` before lld's in a shared object: perf extends it to the next ELF symbol,
    over the whole .plt, and its lookup finds it before the synthesized entries) or another `@plt` name (perf
    6.1 names the entries in .rela.plt's order, and that module's .rela.plt is not in GOT order: libc's
    IRELATIVE relocations come after the JUMP_SLOTs whose entries they sit between; objdump and the stub's
    `jmp *GOT` agree with ours). Also .plt's lazy header, `.plt` to us (as perf 6.3 names it), which perf 6.1
    leaves [unknown] (libc's, at start-up: lazy binding of __tunable_get_val). None when no frame differs
    that way."""
    if len(ours) < len(perfs):
        return None
    repaired = list(perfs)
    for i, (mine, theirs) in enumerate(zip(ours, perfs)):
        if mine == theirs or mine[0] != theirs[0]:
            continue
        if mine[1] == ".plt" and theirs[1] is None:  # the lazy header: perf 6.1 makes no symbol for it
            repaired[i] = mine
        elif (mine[1] or "").endswith("@plt") and (
                theirs[1] in ("_init", "_fini") or (theirs[1] is None and plt_without_entry_size(mine[0]))
                or ((theirs[1] or "").endswith("@plt") and plt_relocations_out_of_order(mine[0]))):
            repaired[i] = mine
    return repaired if repaired != perfs else None


@functools.lru_cache(maxsize=64)
def plt_without_entry_size(module: str | None) -> bool:
    """Whether `module`'s .plt has an sh_entsize other than 8 or 16 (lld and mold write 0)."""
    elf = module_elf(module)
    plt = elf.section(".plt") if elf is not None else None
    return plt is not None and plt.entsize not in (8, 16)


@functools.lru_cache(maxsize=64)
def plt_relocations_out_of_order(module: str | None) -> bool:
    """Whether `module`'s .rela.plt is not sorted by GOT address (IRELATIVE relocations after the JUMP_SLOTs)."""
    from formats.errors import UnwindError
    from formats.relocations import read_relocations

    elf = module_elf(module)
    rela = elf.section(".rela.plt") if elf is not None else None
    try:
        offsets = [r.offset for r in read_relocations(elf, rela)] if elf is not None and rela is not None else []
    except UnwindError:
        return False
    return offsets != sorted(offsets)


@functools.lru_cache(maxsize=64)
def module_elf(module: str | None):
    """The ELF file a perf-script dso names, or None (no such file; a perf map, a JIT dump: not ELF)."""
    if not module or not os.path.isfile(module):
        return None
    from formats.elf import ElfFile  # formats only: bench/unwind.py shadows the unwind package for bench scripts
    from formats.errors import UnwindError

    try:
        return ElfFile(module)
    except UnwindError:
        return None


MAP_MISS = "perf keeps the older of two perf-map entries at one start (V8 reused the code space) and names nothing"


def named_as_newer_map_entry(ours: list, perfs: list) -> list | None:
    """perf's frames with its one unnamed perf-map frame named as ours names it, when the map holds the cause:
    two entries at one start, the later (V8 put new code where freed code was) longer and of our name.
    perf's symbols__fixup_duplicate keeps the first of two symbols at one address (choose_best_symbol: same
    name, both sized), so an address past the old entry's end has no symbol in perf; the newer entry is the
    code there.  None when that is not the difference."""
    unnamed = [i for i, (module, name) in enumerate(perfs)
               if name is None and re.fullmatch(r"/tmp/perf-\d+\.map", module or "")]
    if len(unnamed) != 1:
        return None
    module = perfs[unnamed[0]][0]
    named = [frame for frame in ours if frame[0] == module and frame[1]]
    if not named or not os.path.isfile(module):
        return None
    from formats.perfmap import parse_perf_map

    first: dict[int, int] = {}
    newer = set()
    for entry in parse_perf_map(Path(module).read_bytes()):
        if entry.start not in first:
            first[entry.start] = entry.size
        elif entry.size > first[entry.start]:
            newer.add(entry.name)
    candidates = [frame for frame in named if frame[1] in newer]
    if not candidates:
        return None
    at = unnamed[0]
    # the JIT frame of ours at perf's position, or (perf skipped callers before it) the first one of ours
    frame = ours[at] if at < len(ours) and ours[at] in candidates else candidates[0]
    return perfs[:at] + [frame] + perfs[at + 1:]


@functools.lru_cache(maxsize=64)
def is_data_symbol(module: str | None, name: str | None) -> bool:
    """Whether `name` is a data object of `module` (OBJECT or TLS in its .symtab or its debug file's, and no
    function of that name): no return address can be there."""
    from formats.elf import ElfFile
    from formats.symtab import SymbolType, read_symbols

    elf = module_elf(module) if name else None
    if elf is None:
        return False
    symbols = read_symbols(elf, ".symtab") + read_symbols(elf, ".dynsym")
    if elf.build_id:  # the debug file by build-id, where Debian's -dbg packages put it
        hexid = elf.build_id.hex()
        debug = f"/usr/lib/debug/.build-id/{hexid[:2]}/{hexid[2:]}.debug"
        if os.path.isfile(debug):
            symbols += read_symbols(ElfFile(debug), ".symtab")
    kinds = {s.type for s in symbols if s.name.split("@")[0] == name}
    return bool(kinds) and kinds <= {SymbolType.OBJECT, SymbolType.TLS}


def skips_callers_of_frame0(ours: list, perfs: list) -> bool:
    """Frame 0 alike, then perf's frames are ours minus one or more callers of frame 0 (perf's libunwind
    takes the frame-chain guess [rbp + 8] where no FDE covers frame 0 — a frameless function such as
    crti's _fini or V8's Builtins_GrowFastSmiOrObjectElements — so it lands in the caller's caller;
    the code analysis reads the return address at [rsp]). perf may stop earlier than us after that."""
    if len(perfs) < 2 or ours[:1] != perfs[:1] or perfs[1] not in ours[2:]:
        return False
    at = ours.index(perfs[1], 2)
    if any(module is None for module, _ in ours[1:at]):  # what we found in between must be code
        return False
    rest = ours[at:]
    return rest[:len(perfs) - 1] == perfs[1:] and all(module is not None for module, _ in rest[len(perfs) - 1:])


def goes_on_past_perf(ours: list, perfs: list) -> bool:
    """perf stopped early (its libunwind ends at the first frame in code without any unwind table, such as
    JIT code) and ours goes on through mapped code: the acceptance counts this as agreement."""
    return len(ours) > len(perfs) and ours[:len(perfs)] == perfs and all(m is not None for m, _ in ours[len(perfs):])


def skips_callers_of_frame(ours: list, perfs: list) -> int | None:
    """The index of the first frame perf skips where perf's frames are ours minus one or more frames after a
    common frame further up (V8's Builtins_DeoptimizationEntry_* realigns the stack without a frame around its
    C++ calls; perf's frame chain there skips the function being deoptimized); None if that is not it."""
    at = next((i for i, (a, b) in enumerate(zip(ours, perfs)) if a != b), None)
    if at is None or at < 2:  # frame 0 and 1: skips_callers_of_frame0
        return None
    return at if skips_callers_of_frame0(ours[at - 1:], perfs[at - 1:]) else None
