"""A debuginfod client: debug files fetched by build-id over HTTP and cached where elfutils caches them.

Servers come from `--debuginfod URL` / `Session(debuginfod=...)`, else `$DEBUGINFOD_URLS` (space
separated).  Files land in elfutils' layout, so both clients share one cache:
`$DEBUGINFOD_CACHE_PATH`, else `~/.debuginfod_client_cache` when it exists, else
`$XDG_CACHE_HOME/debuginfod_client` (default `~/.cache/debuginfod_client`), then
`<build-id>/debuginfo` (and `<build-id>/executable` for a mapped binary that is gone from this
machine).  A build-id no server has leaves a zero-length file there (elfutils' negative cache),
trusted for `cache_miss_s` seconds (a file in the cache root, default 600).

Every server is asked at once (daemon threads); the first complete download whose build-id is right wins.
`$DEBUGINFOD_TIMEOUT` (seconds without progress, default 90), `$DEBUGINFOD_MAXTIME` (seconds for
a whole download), `$DEBUGINFOD_MAXSIZE` (bytes; also sent to the server as X-DEBUGINFOD-MAXSIZE)
and `$DEBUGINFOD_PROGRESS` (progress lines on stderr) are honoured.  Failures are one-line
warnings: the caller then answers from the symbol table, never from a wrong file.
"""

from __future__ import annotations

import http.client
import os
import queue
import re
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from dataclasses import dataclass
from typing import TextIO

from formats.elf import ElfFile
from formats.errors import UnwindError

from .errors import UsageError

DEFAULT_TIMEOUT = 90.0
DEFAULT_CACHE_MISS_S = 600
PROGRESS_AT = 1 << 20  # downloads at least this large show progress on a terminal
_CHUNK = 1 << 16


def default_cache_path() -> str:
    """elfutils' cache directory: $DEBUGINFOD_CACHE_PATH, ~/.debuginfod_client_cache,
    $XDG_CACHE_HOME/debuginfod_client."""
    explicit = os.environ.get("DEBUGINFOD_CACHE_PATH")
    if explicit:
        return explicit
    home = os.path.expanduser("~")
    legacy = os.path.join(home, ".debuginfod_client_cache")
    if os.path.isdir(legacy):
        return legacy
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(home, ".cache")
    return os.path.join(base, "debuginfod_client")


_NUMBER = re.compile(r"\d+(\.\d*)?")


def _env_number(name: str, default: float | None) -> float | None:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if not _NUMBER.fullmatch(text):
        warnings.warn(f"${name}={text!r} is not a number; using {default}")
        return default
    return float(text)


class _Failed(Exception):
    """One server's failure, with the one-line reason (and whether it was a plain 404)."""

    def __init__(self, reason: str, missing: bool = False) -> None:
        super().__init__(reason)
        self.missing = missing


@dataclass(frozen=True)
class DebuginfodClient:
    """Fetches `<build-id>/debuginfo` (or `/executable`) from `urls` into `cache_path` (see the module docstring)."""

    urls: tuple[str, ...]
    cache_path: str
    timeout: float = DEFAULT_TIMEOUT
    max_time: float | None = None
    max_size: int | None = None
    progress: TextIO | None = None  # always report progress here (DEBUGINFOD_PROGRESS)

    @classmethod
    def from_environment(cls, urls: str | None = None) -> DebuginfodClient | None:
        """A client for `urls` (else $DEBUGINFOD_URLS) with elfutils' environment settings; None without servers."""
        text = os.environ.get("DEBUGINFOD_URLS", "") if urls is None else urls
        servers = tuple(url.rstrip("/") for url in text.split() if url)
        if not servers:
            return None
        for url in servers:
            if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
                raise UsageError(f"debuginfod server {url!r} is not an http:// or https:// URL")
        max_size = _env_number("DEBUGINFOD_MAXSIZE", None)
        return cls(servers, default_cache_path(), _env_number("DEBUGINFOD_TIMEOUT", DEFAULT_TIMEOUT) or DEFAULT_TIMEOUT,
                   _env_number("DEBUGINFOD_MAXTIME", None), int(max_size) if max_size else None,
                   sys.stderr if os.environ.get("DEBUGINFOD_PROGRESS") else None)

    def cached_path(self, build_id: bytes, kind: str = "debuginfo") -> str:
        return os.path.join(self.cache_path, build_id.hex(), kind)

    def debuginfo(self, build_id: bytes) -> str | None:
        """Path of the debug file with `build_id` (cached, else downloaded), None when no server has it."""
        return self.fetch(build_id, "debuginfo")

    def executable(self, build_id: bytes) -> str | None:
        """Path of the executable or shared object with `build_id` (`/buildid/ID/executable`, cached as
        elfutils caches it), for a mapped file that is gone from this machine; None when no server has it."""
        return self.fetch(build_id, "executable")

    def fetch(self, build_id: bytes, kind: str) -> str | None:
        """`<build-id>/<kind>` ("debuginfo" or "executable") from the cache, else from the servers."""
        if not build_id:
            return None
        target = self.cached_path(build_id, kind)
        try:
            st = os.stat(target)
        except OSError:
            st = None
        if st is not None:
            if st.st_size:
                return target
            if time.time() - st.st_mtime < self._cache_miss_s():
                return None  # a recent negative answer
            _unlink(target)
        return self._download(build_id, target, kind)

    # ---- downloading -------------------------------------------------------------------------

    def _cache_miss_s(self) -> float:
        path = os.path.join(self.cache_path, "cache_miss_s")
        try:
            with open(path) as fh:
                text = fh.read().strip()
        except OSError:
            return DEFAULT_CACHE_MISS_S
        return float(text) if _NUMBER.fullmatch(text) else DEFAULT_CACHE_MISS_S

    def _download(self, build_id: bytes, target: str, kind: str) -> str | None:
        directory = os.path.dirname(target)
        try:
            os.makedirs(directory, exist_ok=True)
            _write_default(os.path.join(self.cache_path, "cache_miss_s"), f"{DEFAULT_CACHE_MISS_S}\n")
        except OSError as exc:
            warnings.warn(f"debuginfod: cache {self.cache_path} is not writable: {exc.strerror}")
            return None
        done, lock = threading.Event(), threading.Lock()
        results: queue.SimpleQueue[tuple[str, str | _Failed]] = queue.SimpleQueue()

        def worker(url: str) -> None:
            outcome: str | _Failed = _Failed("internal error (traceback above)")
            try:
                outcome = self._fetch_one(url, build_id, target, kind, done, lock)
            except _Failed as exc:
                outcome = exc
            finally:
                results.put((url, outcome))

        # daemon threads: a server that hangs after another answered never delays the exit
        for url in self.urls:
            threading.Thread(target=worker, args=(url,), name="debuginfod", daemon=True).start()
        failures: list[tuple[str, _Failed]] = []
        winner = None
        for _ in self.urls:
            url, outcome = results.get()
            if isinstance(outcome, _Failed):
                failures.append((url, outcome))
                continue
            winner = outcome
            break  # the first good download wins; the others stop at their next chunk
        done.set()
        if winner is not None:
            return winner
        for url, failure in failures:
            what = build_id.hex() if kind == "debuginfo" else f"{build_id.hex()} {kind}"
            warnings.warn(f"debuginfod {url}: {what}: {failure}")
        if failures and all(failure.missing for _, failure in failures):
            _write_default(target, "")  # negative cache: no server has it
        return None

    def _fetch_one(self, url: str, build_id: bytes, target: str, kind: str, done: threading.Event,
                   lock: threading.Lock) -> str:
        """Download from one server into a temporary file beside `target`, checked, then renamed to
        `target` unless another server's download got there first; `target`, or _Failed."""
        directory = os.path.dirname(target)
        address = f"{url}/buildid/{build_id.hex()}/{kind}"
        headers = {"User-Agent": "unwind-debuginfod"}
        if self.max_size:
            headers["X-DEBUGINFOD-MAXSIZE"] = str(self.max_size)
        started = time.monotonic()
        try:
            response = urllib.request.urlopen(urllib.request.Request(address, headers=headers), timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            raise _Failed(f"HTTP {exc.code} {exc.reason}", missing=exc.code == 404) from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise _Failed(f"unreachable ({reason})") from None
        with response:
            length_text = response.headers.get("Content-Length")
            total = int(length_text) if length_text and length_text.isdigit() else None
            if self.max_size and total is not None and total > self.max_size:
                raise _Failed(f"{total} bytes exceed DEBUGINFOD_MAXSIZE={self.max_size}")
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{kind}.")
            try:
                received = self._copy(response, fd, address, total, started, done)
            except _Failed:
                _unlink(tmp)
                raise
            except (OSError, http.client.HTTPException) as exc:
                _unlink(tmp)
                raise _Failed(f"download failed ({exc!r})") from None
        if total is not None and received != total:
            _unlink(tmp)
            raise _Failed(f"truncated download: {received} of {total} bytes")
        found = _build_id_of(tmp)
        if found != build_id:
            _unlink(tmp)
            raise _Failed(f"served a file with build-id {found.hex() if found else 'none'}")
        with lock:
            if done.is_set():
                _unlink(tmp)
                raise _Failed("another server answered first")
            os.replace(tmp, target)
            done.set()
        return target

    def _copy(self, response: http.client.HTTPResponse, fd: int, address: str, total: int | None, started: float,
              done: threading.Event) -> int:
        received = 0
        stream = self.progress
        if stream is None and total is not None and total >= PROGRESS_AT and sys.stderr.isatty():
            stream = sys.stderr
        with os.fdopen(fd, "wb") as out:
            while True:
                if done.is_set():
                    raise _Failed("another server answered first")
                chunk = response.read(_CHUNK)
                if not chunk:
                    break
                received += len(chunk)
                if self.max_size and received > self.max_size:
                    raise _Failed(f"more than DEBUGINFOD_MAXSIZE={self.max_size} bytes")
                if self.max_time is not None and time.monotonic() - started > self.max_time:
                    raise _Failed(f"not done within DEBUGINFOD_MAXTIME={self.max_time:g} s")
                out.write(chunk)
                if stream is not None:
                    stream.write(f"\rDownloading from {address}: {received >> 10}"
                                 f"{f'/{total >> 10}' if total else ''} KiB")
                    stream.flush()
        if stream is not None:
            stream.write("\n")
            stream.flush()
        return received


def _build_id_of(path: str) -> bytes | None:
    try:
        return ElfFile(path).build_id
    except (UnwindError, OSError):
        return None


def _write_default(path: str, text: str) -> None:
    """Create `path` with `text` unless it exists (elfutils' cache settings files, the negative-cache entry)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
