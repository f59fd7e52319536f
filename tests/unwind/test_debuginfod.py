"""The debuginfod client against the real elfutils `debuginfod` server, and against faulty servers.

A C++ program is built here (gcc -O2 -g); its debug file (`objcopy --only-keep-debug`) is served by
`debuginfod -F` on 127.0.0.1 and the binary is stripped.  Its answers through the server must equal
llvm-symbolizer 14's, which fetches through the same server ($DEBUGINFOD_URLS).  A dead server, a 404,
a truncated download and a file with the wrong build-id each give one warning line and the symbol-table
answer, as llvm-symbolizer gives it with no debug file at all.
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from corpus import symbolize_builds as builds
from tests.conftest import need_tool

UNWIND = str(Path(sys.executable).parent / "unwind")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_id(path: Path) -> str:
    from formats.elf import ElfFile

    return ElfFile(str(path)).build_id.hex()


@pytest.fixture(scope="module")
def programs(tmp_path_factory) -> dict[str, Path]:
    """prog (with DWARF), stripped (no .symtab, no DWARF), nodebug (.symtab kept), its debug file; and a
    second program whose debug file no server holds."""
    out = tmp_path_factory.mktemp("debuginfod-progs")
    prog = builds.compile_c(out, "cxx", "g++", builds.CXX, ["-O2", "-g"])
    other = builds.compile_c(out, "c", "gcc", builds.C, ["-O2", "-g"])
    served = out / "served"
    served.mkdir()
    debug = served / "cxx.debug"
    builds.run(["objcopy", "--only-keep-debug", str(prog), str(debug)], out)
    stripped, nodebug, other_nodebug = out / "stripped", out / "nodebug", out / "other-nodebug"
    builds.run(["objcopy", "--strip-all", str(prog), str(stripped)], out)
    builds.run(["objcopy", "--strip-debug", str(prog), str(nodebug)], out)
    builds.run(["objcopy", "--strip-debug", str(other), str(other_nodebug)], out)
    (served / "cxx.exe").write_bytes(stripped.read_bytes())  # served as /buildid/ID/executable
    # two builds sharing a dwz multifile that only the server has (its recorded name leads nowhere)
    second = builds.compile_c(out, "cxx-O1", "g++", builds.CXX, ["-O1", "-g"])
    dwz_a, dwz_b = out / "dwz-a", out / "dwz-b"
    dwz_a.write_bytes(prog.read_bytes())
    dwz_b.write_bytes(second.read_bytes())
    builds.run(["dwz", "-m", str(served / "common.multi"), "-M", "/nonexistent/unwind-tests/common.multi",
                str(dwz_a), str(dwz_b)], out)
    return {"prog": prog, "stripped": stripped, "nodebug": nodebug, "debug": debug, "served": served,
            "other": other, "other-nodebug": other_nodebug, "dwz": dwz_a}


@pytest.fixture(scope="module")
def server(programs, tmp_path_factory) -> str:
    """The real elfutils debuginfod over the directory of debug files; its URL once it serves ours."""
    need_tool("debuginfod")
    need_tool("dwz")
    work = tmp_path_factory.mktemp("debuginfod-server")
    port = free_port()
    log = open(work / "log", "wb")
    proc = subprocess.Popen(["debuginfod", "-F", str(programs["served"]), "-p", str(port), "-d",
                             str(work / "db.sqlite"), "-t", "0", "-g", "0"], stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    probe = f"{url}/buildid/{build_id(programs['prog'])}/debuginfo"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(probe, timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail(f"debuginfod did not serve the debug file: {(work / 'log').read_text()[-2000:]}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


SLOW_SECONDS = 30  # well under the client's 90 s timeout: a client that waits for the slow server sees its 404


class FaultyHandler(http.server.BaseHTTPRequestHandler):
    """/truncated/...: half the bytes of a Content-Length; /wrong/...: another program's debug file;
    /slow/...: waits, then 404; /missing/...: 404.  Requests are counted per path."""

    files: dict[str, bytes] = {}
    counts: dict[str, int] = {}
    slow_answers: list[str] = []  # /slow/... requests answered (after SLOW_SECONDS)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.counts[self.path] = self.counts.get(self.path, 0) + 1
        kind = self.path.split("/")[1]
        if kind == "slow":
            time.sleep(SLOW_SECONDS)
            self.slow_answers.append(self.path)
        if kind in ("truncated", "wrong"):
            body = self.files[kind]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[:len(body) // 2] if kind == "truncated" else body)
            self.wfile.flush()
            self.close_connection = True
            return
        self.send_error(404)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def faulty(programs, tmp_path_factory) -> str:
    """A tiny http.server with the faults above; its base URL (add /truncated etc.)."""
    other_debug = tmp_path_factory.mktemp("faulty") / "other.debug"
    builds.run(["objcopy", "--only-keep-debug", str(programs["other"]), str(other_debug)], other_debug.parent)
    whole = programs["debug"].read_bytes()
    FaultyHandler.files = {"truncated": whole, "wrong": other_debug.read_bytes()}
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FaultyHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def every_address(path: Path) -> list[int]:
    from formats.elf import ElfFile
    from formats.symtab import SymbolType, read_symbols

    funcs = {(s.value, s.size) for s in read_symbols(ElfFile(str(path)), ".symtab")
             if s.type == SymbolType.FUNC and s.size and s.value}
    return sorted(a for start, size in funcs for a in range(start, start + size))


def run_ours(obj: Path, addresses: list[int], *options: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([UNWIND, "symbolize", "--inlines", "--output-style=JSON", f"--obj={obj}", *options],
                          input="".join(f"0x{a:x}\n" for a in addresses), capture_output=True, text=True,
                          check=True, env=env, timeout=120)


def run_llvm(obj: Path, addresses: list[int], env: dict[str, str]) -> str:
    return subprocess.run(["llvm-symbolizer", "--inlines", "--output-style=JSON", f"--obj={obj}"],
                          input="".join(f"0x{a:x}\n" for a in addresses), capture_output=True, text=True,
                          check=True, env=env, timeout=120).stdout


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DEBUGINFOD_")}
    return {**clean, "DEBUGINFOD_CACHE_PATH": str(tmp_path / "client-cache"),
            "UNWIND_CACHE_DIR": str(tmp_path / "index-cache")}


def frames(text: str) -> list[list[dict]]:
    return [json.loads(line)["Symbol"] for line in text.splitlines()]


def test_stripped_binary_through_real_server_answers_as_llvm_symbolizer(programs, server, env, tmp_path):
    need_tool("llvm-symbolizer")
    addresses = every_address(programs["prog"])
    ours = run_ours(programs["stripped"], addresses, f"--debuginfod={server}", env=env)
    llvm_env = {**env, "DEBUGINFOD_URLS": server, "DEBUGINFOD_CACHE_PATH": str(tmp_path / "llvm-cache")}
    theirs = run_llvm(programs["stripped"], addresses, llvm_env)
    assert any(len(f) > 1 for f in frames(theirs))  # llvm got the debug file too: inline chains
    assert ours.stdout == theirs
    assert ours.stderr == ""
    # file, line, StartFileName and inline depth equal llvm-symbolizer on the unstripped binary
    reference = run_llvm(programs["prog"], addresses, env)
    def located(answers: list[list[dict]]) -> list[list[tuple]]:
        return [[frame[1:] for frame in builds.key(f)] for f in answers]

    assert located(frames(ours.stdout)) == located(frames(reference))
    # cached where elfutils' client caches: debuginfod-find finds it with no server reachable
    cached = Path(env["DEBUGINFOD_CACHE_PATH"]) / build_id(programs["prog"]) / "debuginfo"
    assert cached.read_bytes() == programs["debug"].read_bytes()
    found = subprocess.run(["debuginfod-find", "debuginfo", build_id(programs["prog"])], capture_output=True,
                           text=True, timeout=60,
                           env={**env, "DEBUGINFOD_URLS": "http://127.0.0.1:1"})
    assert found.stdout.strip() == str(cached)


def test_environment_urls_and_progress(programs, server, env):
    """$DEBUGINFOD_URLS is used without --debuginfod; $DEBUGINFOD_PROGRESS reports the download on stderr;
    the second run answers from the cache (no warning, same answer) even with the server unreachable."""
    addresses = every_address(programs["prog"])[::5]
    first = run_ours(programs["stripped"], addresses,
                     env={**env, "DEBUGINFOD_URLS": f"http://127.0.0.1:1 {server}", "DEBUGINFOD_PROGRESS": "1"})
    assert f"Downloading from {server}/buildid/" in first.stderr
    assert "warning" not in first.stderr  # the dead server lost the race quietly
    second = run_ours(programs["stripped"], addresses, env={**env, "DEBUGINFOD_URLS": "http://127.0.0.1:1"})
    assert second.stdout == first.stdout and second.stderr == ""
    assert any(len(f) > 1 for f in frames(second.stdout))


@pytest.mark.parametrize("fault, message", [
    ("dead", "unreachable"), ("missing", "HTTP 404"), ("truncated", "truncated download"),
    ("wrong", "served a file with build-id"),
])
def test_faults_warn_once_and_answer_from_the_symbol_table(programs, faulty, env, fault, message):
    need_tool("llvm-symbolizer")
    url = "http://127.0.0.1:1" if fault == "dead" else f"{faulty}/{fault}"
    addresses = every_address(programs["prog"])[::3]
    ours = run_ours(programs["nodebug"], addresses, f"--debuginfod={url}", env=env)
    warnings = ours.stderr.splitlines()
    assert len(warnings) == 1 and message in warnings[0] and url in warnings[0], ours.stderr
    assert ours.stdout == run_llvm(programs["nodebug"], addresses, env)  # symbol table only, like llvm
    cache = Path(env["DEBUGINFOD_CACHE_PATH"]) / build_id(programs["prog"])
    assert [p.name for p in cache.iterdir()] == (["debuginfo"] if fault == "missing" else [])  # no partial file
    if fault == "missing":
        assert (cache / "debuginfo").stat().st_size == 0  # elfutils' negative-cache entry


def test_negative_cache_asks_once_then_again_after_cache_miss_s(programs, faulty, env):
    url = f"{faulty}/missing"
    request = f"/missing/buildid/{build_id(programs['prog'])}/debuginfo"
    before = FaultyHandler.counts.get(request, 0)
    for _ in range(2):
        run_ours(programs["nodebug"], [every_address(programs["prog"])[0]], f"--debuginfod={url}",
                 env={**env, "UNWIND_CACHE_DIR": env["UNWIND_CACHE_DIR"] + str(_)})
    assert FaultyHandler.counts[request] == before + 1  # the second run trusted the negative entry
    entry = Path(env["DEBUGINFOD_CACHE_PATH"]) / build_id(programs["prog"]) / "debuginfo"
    assert (Path(env["DEBUGINFOD_CACHE_PATH"]) / "cache_miss_s").read_text().strip() == "600"
    os.utime(entry, (time.time() - 601, time.time() - 601))
    run_ours(programs["nodebug"], [every_address(programs["prog"])[0]], f"--debuginfod={url}",
             env={**env, "UNWIND_CACHE_DIR": env["UNWIND_CACHE_DIR"] + "x"})
    assert FaultyHandler.counts[request] == before + 2  # expired: asked again


def test_servers_are_asked_in_parallel(programs, server, faulty, env):
    """A server that takes 30 s does not delay the answer another server gives at once: the command has
    answered before the slow server did (an order of events, not a wall-clock bound a loaded machine can break)."""
    answered = len(FaultyHandler.slow_answers)
    ours = run_ours(programs["stripped"], every_address(programs["prog"])[:50],
                    f"--debuginfod={faulty}/slow {server}", env=env)
    assert len(FaultyHandler.slow_answers) == answered, "the command waited for the slow server"
    assert FaultyHandler.counts.get(f"/slow/buildid/{build_id(programs['prog'])}/debuginfo")  # it was asked
    assert ours.stderr == "" and any(len(f) > 1 for f in frames(ours.stdout))


def test_session_and_client_api(programs, server, env, monkeypatch):
    """The library path: a DebuginfodClient handed to the Symbolizer; a non-HTTP URL is a UsageError."""
    from unwind.debuginfod import DebuginfodClient
    from unwind.errors import UsageError
    from unwind.symbolizer import Symbolizer

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    client = DebuginfodClient.from_environment(server)
    assert client is not None and client.cache_path == env["DEBUGINFOD_CACHE_PATH"]
    assert DebuginfodClient.from_environment("") is None
    with pytest.raises(UsageError):
        DebuginfodClient.from_environment("ftp://example.org")
    address = every_address(programs["prog"])[10]
    got = Symbolizer(debuginfod=client, index_dir=env["UNWIND_CACHE_DIR"]).symbolize(str(programs["stripped"]),
                                                                                    [address])
    want = Symbolizer(index_dir=env["UNWIND_CACHE_DIR"]).symbolize(str(programs["prog"]), [address])
    assert [(f.file, f.line) for f in got[0]] == [(f.file, f.line) for f in want[0]]


def test_dwz_multifile_fetched_by_its_build_id(programs, server, env):
    """A dwz -m binary whose multifile no local path or debug directory holds: the multifile comes from
    the server by the build-id in .gnu_debugaltlink, and every address answers as llvm-symbolizer 14 on
    the build before dwz (without the server: one warning naming the missing file)."""
    need_tool("llvm-symbolizer")
    addresses = every_address(programs["prog"])
    ours = run_ours(programs["dwz"], addresses, f"--debuginfod={server}", env=env)
    theirs = frames(run_llvm(programs["prog"], addresses, env))
    assert [builds.key(f) for f in frames(ours.stdout)] == [builds.key(f) for f in theirs]
    assert ours.stderr == ""
    alone = run_ours(programs["dwz"], addresses[:5], env={**env, "UNWIND_CACHE_DIR": env["UNWIND_CACHE_DIR"] + "2"})
    assert "common.multi not found" in alone.stderr and len(alone.stderr.splitlines()) == 1


def test_session_and_stacks_command_fetch_through_the_server(programs, server, env, monkeypatch, tmp_path):
    """Session(debuginfod=URL) and `unwind stacks --debuginfod URL` answer a stripped binary's addresses
    with the lines llvm-symbolizer 14 gives on the unstripped one; Session(debuginfod="") asks no server
    even when $DEBUGINFOD_URLS names one."""
    from unwind import Session

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    addresses = every_address(programs["prog"])[::40]
    theirs = frames(run_llvm(programs["prog"], addresses, env))
    with Session(cache_dir=str(tmp_path / "s1"), debuginfod=server) as session:
        got = session.symbolize(programs["stripped"], addresses)
    assert [[(f.file or None, f.line or None) for f in answer] for answer in got] == \
        [[(t["FileName"] or None, t["Line"] or None) for t in answer] for answer in theirs]  # llvm: "" and 0
    monkeypatch.setenv("DEBUGINFOD_URLS", server)
    monkeypatch.setenv("DEBUGINFOD_CACHE_PATH", str(tmp_path / "empty-cache"))
    with Session(cache_dir=str(tmp_path / "s2"), debuginfod="") as session:
        bare = session.symbolize(programs["stripped"], addresses)
    assert not (tmp_path / "empty-cache").exists() and all(f.line in (None, 0) for a in bare for f in a)

    stack = tmp_path / "stack.txt"  # one-frame stacks: each address is a pc, looked up as given
    stack.write_text("".join(f"0x{a:x}\n\n" for a in addresses[:6]))
    run = subprocess.run([UNWIND, "stacks", str(stack), f"--obj={programs['stripped']}", "--format=json",
                          "--inlines", f"--debuginfod={server}"], capture_output=True, text=True, check=True,
                         env={**env, "UNWIND_CACHE_DIR": str(tmp_path / "s3")})
    chains = [[(f["file"] or None, f["line"] or None) for f in json.loads(line)["frames"]]
              for line in run.stdout.splitlines()]
    assert chains == [[(t["FileName"] or None, t["Line"] or None) for t in answer] for answer in theirs[:6]], \
        run.stderr


def test_missing_executable_fetched_by_build_id(programs, server, env, tmp_path):
    """Stacks of build-id + file-offset entries (bpftrace's build_id mode) whose binary is on no local path:
    `unwind stacks --debuginfod URL` fetches the executable (`/buildid/ID/executable`) and its debug file
    and names every frame as llvm-symbolizer 14 does on the unstripped build; elfutils' debuginfod-find
    finds the executable in our cache with no server; without a server the entries stay unnamed."""
    from formats.elf import ElfFile

    need_tool("llvm-symbolizer")
    need_tool("debuginfod-find")
    bid = build_id(programs["prog"])
    deadline = time.monotonic() + 60  # the server indexes served/ in the background
    while True:
        try:
            with urllib.request.urlopen(f"{server}/buildid/{bid}/executable", timeout=5) as response:
                if response.status == 200:
                    break
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            pytest.fail("debuginfod does not serve the executable")
        time.sleep(0.3)
    elf = ElfFile(str(programs["prog"]))
    addresses = every_address(programs["prog"])[::40][:8]
    stack = tmp_path / "stack.txt"  # one-frame stacks: each entry is a pc
    stack.write_text("".join(f"{bid}+0x{elf.vaddr_to_offset(a):x}\n" for a in addresses))
    argv = [UNWIND, "stacks", str(stack), "--format=json", "--inlines"]
    run = subprocess.run([*argv, f"--debuginfod={server}"], capture_output=True, text=True, check=True, env=env)
    theirs = frames(run_llvm(programs["prog"], addresses, env))
    got = [json.loads(line)["frames"] for line in run.stdout.splitlines()]
    assert [[(f["file"] or None, f["line"] or None) for f in chain] for chain in got] == \
        [[(t["FileName"] or None, t["Line"] or None) for t in answer] for answer in theirs], run.stderr
    assert all(f["symbol"] for chain in got for f in chain)  # named (stacks name functions as perf does)
    cached = Path(env["DEBUGINFOD_CACHE_PATH"]) / bid / "executable"
    assert cached.read_bytes() == programs["stripped"].read_bytes()
    found = subprocess.run(["debuginfod-find", "executable", bid], capture_output=True, text=True, timeout=60,
                           env={**env, "DEBUGINFOD_URLS": "http://127.0.0.1:1"})  # no server reachable
    assert found.stdout.strip() == str(cached)
    alone = subprocess.run(argv, capture_output=True, text=True, check=True,
                           env={**env, "DEBUGINFOD_CACHE_PATH": str(tmp_path / "empty")})
    assert all(f["symbol"] is None for line in alone.stdout.splitlines() for f in json.loads(line)["frames"])
