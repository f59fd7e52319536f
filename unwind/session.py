"""`unwind.Session`: the library's entry point. It owns the caches; each verb is a few lines that
delegate to the module doing the work.

Where each verb lives:

- `perf`       unwind/pipeline.py (SampleResolver, PerfRun) over unwind/perfsession.py
- `core`       unwind/core.py (load_core, FrameNamer)
- `symbolize`  unwind/symbolizer.py (Symbolizer over the persistent index of unwind/index.py)
- `stacks`     unwind/rawstacks.py over formats/stacktext.py
- `unwind`     unwind/pipeline.py (SampleResolver.resolve) with any registry unwinder
- `pid`        unwind/live.py (unwind_process) named as `core`
- `report`     unwind/reportrun.py (perf.data facts) over unwind/report.py (perf report's histogram)
- `batch`      unwind/batch.py (plan, shard by build-id, Dask tasks, tree merge) over unwind/batch_inputs.py

Two Sessions share nothing: every resolver, symbolizer, kernel symbol table, CFI table cache and
unwinder a Session makes is its own, created on first use and dropped by `close()`; the CFI table
cache is passed down to the unwinders that read CFI (dwarf, auto, dwarf-stitched), so a Session's
second recording reuses the tables its first one compiled.
"""

from __future__ import annotations

import os
from types import TracebackType
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from formats.stack import Frame, Stack

from .errors import FileError, UsageError

if TYPE_CHECKING:
    from .debuginfod import DebuginfodClient
    from formats.kallsyms import KernelSymbols
    from formats.perfreport import Report

    from .batch import BatchResult
    from .caches import CacheStats
    from .cfi_tables import CfiCache
    from .kernel import KernelTables
    from .demangle import Demangler
    from .model import Sample, Unwinder
    from .modules import ModuleResolver
    from .pipeline import PerfRun
    from .symbolizer import Symbolizer

Thread = Stack  # `Session.core` gives one Stack per thread: tid, frames, stop


class Session:
    """Everything the commands do, as calls; every cache lives here (see the module docstring)."""

    def __init__(self, symfs: str | None = None, debug_dirs: Sequence[str] = (), cache_dir: str | None = None,
                 kallsyms: str | None = None, debuginfod: str | None = None) -> None:
        """`symfs`: look binaries up under this directory first (as perf does); `debug_dirs`: build-id
        debug trees (default /usr/lib/debug); `cache_dir`: where indexes and CFI tables persist
        (default $UNWIND_CACHE_DIR, else ~/.cache/unwind); `kallsyms`: kernel symbols (kallsyms or
        System.map; default /proc/kallsyms); `debuginfod`: debuginfod server URL(s), space separated, for
        debug files (and dwz files) no local directory holds (default $DEBUGINFOD_URLS; "" for none)."""
        if isinstance(debug_dirs, str):
            raise UsageError("debug_dirs is a sequence of directories, not one string")
        self.symfs = symfs
        self.debug_dirs = tuple(debug_dirs)
        self.cache_dir = cache_dir
        self.kallsyms = kallsyms
        self.debuginfod = debuginfod
        self._debuginfod_client: tuple[DebuginfodClient | None] | None = None
        self._resolver: ModuleResolver | None = None
        self._symbolizers: dict[tuple[Any, ...], Symbolizer] = {}
        self._kernels: KernelTables | None = None
        self._cfi: CfiCache | None = None
        self._demangler: Demangler | None = None
        self._closed = False

    # ---- what the Session owns ----------------------------------------------------------------

    @property
    def resolver(self) -> ModuleResolver:
        """The ELF files behind mappings (opened once, LRU-bounded)."""
        self._check_open()
        if self._resolver is None:
            from .modules import ModuleResolver

            self._resolver = ModuleResolver(symfs=self.symfs, debug_dirs=self.debug_dirs,
                                            debuginfod=self.debuginfod_client())
        return self._resolver

    @property
    def demangler(self) -> Demangler:
        """The demanglers (llvm-symbolizer's, perf's, eu-stack's) and their memos, shared by this Session's
        symbolizers and eu-stack text."""
        self._check_open()
        if self._demangler is None:
            from .demangle import Demangler

            self._demangler = Demangler()
        return self._demangler

    def symbolizer(self, *, naming: str = "llvm", inlines: bool = True, demangle: bool = True,
                   symbol_table: bool = True, remember: bool = True) -> Symbolizer:
        """The Session's symbolizer for one naming configuration (made once per configuration)."""
        self._check_open()
        if naming not in ("llvm", "perf"):
            raise UsageError(f"unknown naming {naming!r} (expected 'llvm' or 'perf')")
        key = (naming, inlines, demangle, symbol_table, remember)
        found = self._symbolizers.get(key)
        if found is None:
            from .symbolizer import Symbolizer

            found = self._symbolizers[key] = Symbolizer(
                symfs=self.symfs, debug_dirs=self.debug_dirs, demangle=demangle, inlines=inlines,
                symbol_table=symbol_table, naming=naming, cache_size=(1 << 16) if remember else 0,
                index_dir=self.cache_dir, debuginfod=self.debuginfod_client(), demangler=self.demangler)
        return found

    def debuginfod_client(self) -> DebuginfodClient | None:
        """The debuginfod client of `debuginfod` (else $DEBUGINFOD_URLS), made once; None without servers."""
        self._check_open()
        if self._debuginfod_client is None:
            from .debuginfo import debuginfod_client

            self._debuginfod_client = (debuginfod_client(self.debuginfod),)
        return self._debuginfod_client[0]

    def kernel_symbols(self, build_id: bytes | None = None) -> KernelSymbols | None:
        """The kernel symbol table, loaded once each: `kallsyms` when given; else the running kernel's, or for a
        recording of another kernel (`build_id`, the recording's `[kernel.kallsyms]` build-id) the copy of
        that kernel's kallsyms in perf's build-id cache, as perf script takes it, or None when there is none
        (perf names no kernel frame then, and a warning says so); None also when unreadable."""
        self._check_open()
        if self._kernels is None:
            from .kernel import KernelTables

            self._kernels = KernelTables(self.kallsyms, self.cache_dir)
        return self._kernels.get(build_id)

    @property
    def cfi_cache(self) -> CfiCache:
        """Compiled CFI tables (memory LRU over the persistent `cache_dir`), shared by this Session's unwinders."""
        self._check_open()
        if self._cfi is None:
            from .cfi_tables import CfiCache

            self._cfi = CfiCache(self.cache_dir)
        return self._cfi

    def unwinder(self, name: str, resolver: ModuleResolver | None = None, **options: Any) -> Unwinder:
        """A registry unwinder wired to this Session's resolver, CFI table cache and cache directory
        (unwinders that keep no tables are given neither)."""
        from .unwinders import BUILTINS, get_unwinder

        if name in BUILTINS:  # third-party unwinders get only what the caller gives
            options.setdefault("cache", self.cfi_cache)
            options.setdefault("cache_dir", self.cache_dir)
        return get_unwinder(name, resolver=resolver or self.resolver, **options)

    # ---- the verbs -----------------------------------------------------------------------------

    def perf(self, path: str | os.PathLike[str], unwinder: str = "dwarf", inlines: bool = False,
             max_depth: int | None = None, *, like_perf: bool = False, lines: bool = True,
             stitch: bool = False, truncated_marker: bool = False, progress: bool = True) -> PerfRun:
        """The stacks of a perf.data recording, streamed in file order (iterate the result).

        User stacks are unwound from REGS_USER + STACK_USER (or taken from the recorded callchain),
        the kernel part of the callchain is kept; every frame is symbolised. `like_perf` reproduces
        perf 6.1's stack-copy bound; `lines=False` leaves out source lines where the symbol table
        names the function (faster; for perf-script and folded output). `unwind.write(run, fmt, out,
        jobs=N)` renders perf-script or JSON on N processes. `stitch` completes stacks the stack copy
        cut from other samples of the same thread (the unwinder's stitched variant, unwind/stitch.py;
        one process); `truncated_marker` ends a truncated stack in a `[truncated]` frame."""
        from .perfsession import PerfSession
        from .pipeline import PerfRun, SampleResolver

        if stitch:
            from .stitch import stitched_name

            name = stitched_name(unwinder)
            if not name:
                raise UsageError(f"--stitch: unwinder {unwinder!r} has no stitched variant (dwarf, fp, lbr have)")
            unwinder = name
        if max_depth is not None and max_depth < 1:
            raise UsageError(f"--max-stack {max_depth}: must be at least 1")
        options: dict[str, Any] = {} if max_depth is None else {"max_depth": max_depth}
        walker = self.unwinder(unwinder, **options)
        symbolizer = self.symbolizer(naming="perf", inlines=inlines)
        if self.kallsyms is not None:
            self.kernel_symbols()  # a bad --kallsyms fails before the recording is read
        session = PerfSession(os.fspath(path))
        pipeline = SampleResolver(walker, symbolizer, self.resolver, self.kernel_symbols(session.kernel_build_id),
                                  inlines, like_perf=like_perf, lines=lines, truncated_marker=truncated_marker)
        return PerfRun(session, pipeline, "unwinding" if progress else None)

    def core(self, path: str | os.PathLike[str], exe: str | None = None, unwinder: str = "auto",
             inlines: bool = False, max_depth: int = 256, *, scan: bool = False,
             debug_info: bool = True) -> list[Stack]:
        """Every thread of an ELF core file, in note order: one Stack each (pid, tid, comm, frames, stop).

        `debug_info=False` names frames from the ELF symbol tables only, as eu-stack does;
        `scan` lets the auto unwinder fall back to a call-checked stack scan."""
        from .core import FrameNamer, load_core
        from .eustack import describe_threads
        from .model import unwind_over

        self._check_open()
        process = load_core(os.fspath(path), exe=exe, symfs=self.symfs, debug_dirs=self.debug_dirs,
                            debuginfod=self.debuginfod_client())
        options: dict[str, Any] = {"max_depth": max_depth}
        if scan:
            options["scan"] = True
        walker = self.unwinder(unwinder, resolver=process.resolver, **options)
        namer = FrameNamer(process.resolver, self.symbolizer(inlines=inlines))
        walked = ((sample, unwind_over(walker, sample, process.memory_for(sample))) for sample in process.samples)
        return describe_threads(walked, namer, inlines, debug_info)

    def pid(self, pid: int, unwinder: str = "auto", inlines: bool = False, max_depth: int = 256, *,
            debug_info: bool = True) -> list[Stack]:
        """Every thread of a live process, walked while held stopped (unwind/live.py; ptrace rights needed):
        one Stack each, as `Session.core` gives them. `debug_info=False` names frames from the ELF symbol
        tables only, as eu-stack -p does."""
        from .core import FrameNamer
        from .eustack import describe_threads
        from .live import unwind_process

        self._check_open()
        if max_depth < 1:
            raise UsageError(f"--max-depth must be at least 1, not {max_depth}")
        process = unwind_process(pid, unwinder, symfs=self.symfs, debug_dirs=self.debug_dirs, max_depth=max_depth)
        namer = FrameNamer(process.resolver, self.symbolizer(inlines=inlines))
        return describe_threads(((t.sample, t.trace) for t in process.threads), namer, inlines, debug_info)

    def symbolize(self, path: str | os.PathLike[str], addresses: Iterable[int], inlines: bool = True, *,
                  demangle: bool = True, symbol_table: bool = True, naming: str = "llvm",
                  remember: bool = True) -> list[list[Frame]]:
        """One list of frames per ELF virtual address of `path`, innermost inline first, as
        llvm-symbolizer gives them. `symbol_table` names the outermost frame from the ELF symbol
        table (llvm-symbolizer's rule); `remember` keeps answers for repeated addresses."""
        symbolizer = self.symbolizer(naming=naming, inlines=inlines, demangle=demangle,
                                     symbol_table=symbol_table, remember=remember)
        return symbolizer.symbolize(os.fspath(path), list(addresses), inlines=inlines)

    def stacks(self, path: str | os.PathLike[str] | None = None, maps: str | None = None, *,
               text: str | None = None, obj: str | None = None, inlines: bool = False) -> list[Stack]:
        """Raw address arrays (bpftrace ustack/kstack, BCC folded, address lists, build-id + offset
        entries) from a file, or from `text`, symbolised. `maps` is a saved /proc/PID/maps of the
        traced process (else the live process's, when still there); with `obj` user addresses are
        ELF virtual addresses of that file. Each Stack keeps the input's count."""
        from formats.stacktext import parse_stacks

        from .rawstacks import RawStackResolver, live_maps, module_map_for_object, module_map_from_maps
        from .resolve import FrameResolver

        if (path is None) == (text is None):
            raise UsageError("give either a path or text")
        if maps is not None and obj is not None:
            raise UsageError("give maps or obj, not both")
        name = os.fspath(path) if path is not None else "<text>"
        if text is None:
            text = _read_text(name)
        modules = None
        if maps is not None:
            modules = module_map_from_maps(_read_text(maps, "surrogateescape"), maps)  # paths are bytes, kept
        elif obj is not None:
            modules = module_map_for_object(obj)
        symbolizer = self.symbolizer(naming="llvm" if obj else "perf", inlines=inlines)
        frames = FrameResolver(symbolizer, self.resolver, self.kernel_symbols(), inlines)
        raw = RawStackResolver(frames, self.resolver, modules, live_maps)
        return [raw.resolve(stack) for stack in parse_stacks(text, name)]

    def unwind(self, sample: Sample, unwinder: str = "dwarf", inlines: bool = False, **options: Any) -> Stack:
        """One `unwind.model.Sample` unwound with a registry unwinder (`options` are its options) and symbolised."""
        from .pipeline import SampleResolver

        pipeline = SampleResolver(self.unwinder(unwinder, **options), self.symbolizer(naming="perf", inlines=inlines),
                                  self.resolver, self.kernel_symbols(), inlines, truncated_marker=False)
        return pipeline.resolve(sample)

    def report(self, path: str | os.PathLike[str], *, children: bool = True, sort: str | None = None,
               call_graph: str | None = None, percent_limit: float = 0.0, inline: bool = True,
               unwinder: str = "dwarf", stitch: bool = False, like_perf: bool = False, max_depth: int | None = None,
               maps: str | None = None, obj: str | None = None, progress: bool = False) -> Report:
        """The call tree with percentages that `perf report` shows, from our stacks: a perf.data recording
        (unwound as `perf`), a pprof profile (`unwind perf`/`batch` output) or raw stacks (as `stacks`,
        with `maps`/`obj`: bpftrace, BCC folded, so also folded output). `sort`, `call_graph` and
        `percent_limit` take perf report's values (`dso,sym`, `caller,0.5`, ...); render the result with
        `formats.perfreport.render_stdio` or `formats.perfreport_tty`."""
        from .reportoptions import report_options
        from .reportrun import input_kind, report_of_pprof, report_of_run, report_of_stacks

        options = report_options(children, sort, call_graph, percent_limit, inline)
        name = os.fspath(path)
        kind = input_kind(name)
        if kind == "perf.data":
            run = self.perf(name, unwinder, inline, max_depth, like_perf=like_perf, lines=False, stitch=stitch,
                            progress=progress)
            return report_of_run(run, options)
        if kind == "pprof":
            return report_of_pprof(name, options)
        return report_of_stacks(self.stacks(name, maps=maps, obj=obj, inlines=inline), options)

    def batch(self, inputs: Iterable[str], scheduler: str | None = None, *, unwinder: str = "dwarf",
              inlines: bool = False, max_depth: int = 127, lines: bool = True, truncated_marker: bool = True,
              workers: int | None = None) -> BatchResult:
        """Many recordings (perf.data files, stack files with FILE.maps beside them, directories, globs)
        unwound and merged on Dask: a LocalCluster of `workers` processes, or the running scheduler at
        `scheduler` (tcp://host:8786). The workers use this Session's symfs, debug dirs, cache dir and
        kernel symbols (their own caches: they are other processes). Write the result with
        `formats.merged.write_merged(unwind.batch.entries(result), fmt)`."""
        from .batch import run_batch
        from .batch_inputs import BatchOptions

        self._check_open()
        options = BatchOptions(unwinder=unwinder, inlines=inlines, max_depth=max_depth, lines=lines,
                               truncated_marker=truncated_marker, symfs=self.symfs, debug_dirs=self.debug_dirs,
                               cache_dir=self.cache_dir, kallsyms=self.kallsyms)
        return run_batch([inputs] if isinstance(inputs, str) else inputs, options, scheduler=scheduler,
                         workers=workers)

    # ---- lifetime ----------------------------------------------------------------------------

    def cache_stats(self) -> dict[str, CacheStats]:
        """Hits, misses, entries held and bound of every cache this Session has made so far, by name:
        `elf-files` and `mappings` (the resolver's), `cfi-tables` and `frame0-analyses` (the CFI table
        cache), `demangle-llvm`, `demangle-perf`, `demangle-cxa`, and per symbolizer configuration
        `symbolizer[NAMING,FLAGS...]/modules` and `/addresses` (e.g. `symbolizer[perf,demangle,symbol_table,
        remember]/addresses`). A cache not made yet is absent."""
        out: dict[str, CacheStats] = {}
        if self._resolver is not None:
            out.update(self._resolver.cache_stats())
        if self._cfi is not None:
            out.update(self._cfi.cache_stats())
        if self._demangler is not None:
            out.update(self._demangler.stats())
        for (naming, *flags), symbolizer in self._symbolizers.items():
            label = f"symbolizer[{naming}" + "".join(f",{flag}" for flag, on in zip(
                ("inlines", "demangle", "symbol_table", "remember"), flags) if on) + "]"
            for name, stats in symbolizer.cache_stats().items():
                if not name.startswith("demangle-"):  # the Session's demangler, listed once above
                    out[f"{label}/{name}"] = stats
        return out

    def flush(self) -> None:
        """Write what the persistent caches hold unsaved (frame-0 analyses; indexes and CFI tables are
        written when built)."""
        if self._cfi is not None:
            self._cfi.flush()

    def close(self) -> None:
        """`flush`, then drop every cache; the Session cannot be used afterwards."""
        self.flush()
        self._resolver = None
        self._symbolizers.clear()
        self._kernels = None
        self._cfi = None
        self._demangler = None
        self._closed = True

    def __enter__(self) -> Session:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise UsageError("this unwind.Session is closed")


def _read_text(path: str, errors: str = "replace") -> str:
    """A text file (undecodable bytes replaced), or stdin for "-"; a missing file is an UnwindError naming it."""
    if path == "-":
        import sys

        return sys.stdin.read()
    try:
        with open(path, encoding="utf-8", errors=errors) as fh:
            return fh.read()
    except OSError as exc:
        raise FileError(path, exc) from exc
