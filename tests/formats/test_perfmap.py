"""formats.perfmap: perf map lines read as perf 6.1's dso__load_perf_map reads them (hand-written lines,
one comment each; the node and JDK-style files recorded for real are in tests/unwind/cli/test_jit_perf.py)."""

from formats.perfmap import PerfMap, parse_perf_map, strtoull16


def test_line_variants():
    data = (b"7f00 10 Interpreter\n"      # plain hex, as V8 writes it
            b"0x7f10 0x20 LazyCompile:*f a.js:1\n"  # 0x-prefixed, as `jcmd Compiler.perfmap` writes; spaces in name
            b"  7f40 5 py::f:x.py\n"      # leading blanks are skipped by strtoull
            b"7f50 5 ab\n"                # a two-character name: perf needs three, skipped
            b"12 3\n"                     # no name at all: skipped
            b"7f80 8 last")               # no final newline: perf drops the last character anyway
    entries = parse_perf_map(data)
    assert [(e.start, e.size, e.name, e.line) for e in entries] == [
        (0x7F00, 0x10, "Interpreter", 1), (0x7F10, 0x20, "LazyCompile:*f a.js:1", 2),
        (0x7F40, 5, "py::f:x.py", 3), (0x7F80, 8, "las", 6)]


def test_strtoull_corner_cases():
    assert strtoull16(b"0x", 0) == (0, 1)       # "0x" without digits: the 0 alone, as C
    assert strtoull16(b"zz", 0) == (0, 0)       # no digits at all
    assert strtoull16(b"-1", 0) == ((1 << 64) - 1, 2)  # a sign wraps, as strtoull does
    assert strtoull16(b"f" * 20, 0) == ((1 << 64) - 1, 20)  # overflow saturates


def test_lookup_prefers_the_latest_entry_covering_an_address():
    perf_map = PerfMap(parse_perf_map(b"1000 100 old\n1000 100 new\n1080 10 inner\n2000 0 empty\n"))
    assert perf_map.find(0x1000).name == "new"      # re-JITted at the same address: the later line
    assert perf_map.find(0x1085).name == "inner"    # nested range: the innermost
    assert perf_map.find(0x1090).name == "new"      # past the nested one: back to the outer
    assert perf_map.find(0x2000).name == "empty"    # size 0 covers its start only
    assert perf_map.find(0x2001) is None and perf_map.find(0xFFF) is None
