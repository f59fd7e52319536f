"""Symbol demangling as llvm-symbolizer 14, perf script and eu-stack print it: a `Demangler`, owned by
its caller (an `unwind.Session` hands one to its symbolizers and writers), holding its memos (bounded
LRUs, unwind.caches.LRU) and the library handles it loads.

The grammar for llvm-symbolizer's names (Itanium C++ and Rust v0) is LLVM's own demangler, through
the maintained `pycxxfilt` package (it vendors a newer LLVM); the one spelling LLVM 14 still had
differently is restored here: closing template brackets are separated (`> >`).  perf's names come
from binutils' libiberty (cplus_demangle, as Debian's perf calls it), eu-stack's from libstdc++'s
__cxa_demangle.  Names the demangler rejects stay as they are.
"""

from __future__ import annotations

import re
from typing import Any, Callable, cast

from .caches import LRU, CacheStats

# operator tokens that contain '>' and must not be split
_OPERATOR = r"operator(?:>>=|>>|>=|->\*|->|>)"  # compiled on first use (re's cache): most runs never need it
MEMO_SIZE = 65536  # names per demangler flavour
_Library = tuple[Any, Callable[[int], None]]  # (the library with its demangle function, libc's free)


class Demangler:
    """The three demanglers, each with a bounded memo; libiberty and libstdc++ are loaded on first use."""

    def __init__(self, maxsize: int = MEMO_SIZE) -> None:
        self._llvm: LRU[str, str] = LRU(maxsize)
        self._perf: LRU[str, str] = LRU(maxsize)
        self._cxa: LRU[str, str] = LRU(maxsize)
        self._misses = {"llvm": 0, "perf": 0, "cxa": 0}
        self._calls = {"llvm": 0, "perf": 0, "cxa": 0}
        self._libiberty: tuple[_Library | None] | None = None
        self._libstdcxx: _Library | None = None

    def llvm(self, name: str) -> str:
        """The name llvm-symbolizer --demangle prints for `name` (unchanged if it is not mangled)."""
        if not name.startswith(("_Z", "___Z", "_R")):
            return name
        self._calls["llvm"] += 1
        found = self._llvm.get(name)
        if found is None:
            self._misses["llvm"] += 1
            found = self._llvm[name] = _demangle_mangled(name)
        return found

    def perf(self, name: str) -> str:
        """The name `perf script` prints: libiberty's cplus_demangle(name, DMGL_NO_OPTS), as Debian's perf
        calls it: Itanium C++, and Rust in both manglings (legacy `_ZN...17h<hash>E` and v0 `_R...`, as
        Rust's standard library is built since 1.9x: `std::rt::lang_start_internal`).

        libiberty ships inside binutils' libbfd; without it names fall back to llvm-symbolizer's.
        A PLT entry's `name@plt` is demangled without its suffix and given it back, as perf's
        dso__synthesize_plt_symbols names it (`operator delete@plt`).
        """
        if name.endswith("@plt") and name.startswith(("_Z", "_R")):
            return self.perf(name[:-4]) + "@plt"
        if not name.startswith(("_Z", "_R")):  # _R: Rust v0, which libiberty's rust_demangle reads
            return name
        lib = self.libiberty()
        if lib is None:
            return self.llvm(name)
        self._calls["perf"] += 1
        found = self._perf.get(name)
        if found is None:
            self._misses["perf"] += 1
            found = self._perf[name] = _cplus_demangle(lib, name)
        return found

    def cxa(self, name: str) -> str:
        """The name eu-stack prints: libstdc++'s __cxa_demangle (full signature), for `_Z` names only."""
        if not name.startswith("_Z"):
            return name
        self._calls["cxa"] += 1
        found = self._cxa.get(name)
        if found is None:
            self._misses["cxa"] += 1
            if self._libstdcxx is None:
                self._libstdcxx = _load_libstdcxx()
            found = self._cxa[name] = _cxa_demangle(self._libstdcxx, name)
        return found

    def libiberty(self) -> _Library | None:
        """(libbfd with its cplus_demangle, libc's free), loaded once; None when binutils' libbfd is absent."""
        if self._libiberty is None:
            self._libiberty = (_load_libiberty(),)
        return self._libiberty[0]

    def stats(self) -> dict[str, CacheStats]:
        """Each memo's counters: `demangle-llvm`, `demangle-perf`, `demangle-cxa`."""
        memos = {"llvm": self._llvm, "perf": self._perf, "cxa": self._cxa}
        return {f"demangle-{kind}": CacheStats(self._calls[kind] - self._misses[kind], self._misses[kind],
                                               len(memo), int(memo.maxsize))
                for kind, memo in memos.items()}


def _demangle_mangled(name: str) -> str:
    import pycxxfilt  # only programs with mangled names pay for loading LLVM's demangler

    try:
        if name.startswith("_Z") or name.startswith("___Z"):
            text = pycxxfilt.itanium_demangle(name)
            return _llvm14_spelling(text) if text else name
        if name.startswith("_R"):
            return pycxxfilt.rust_demangle(name) or name
    except ValueError:  # not a valid mangled name: llvm-symbolizer prints it unchanged
        pass
    return name


def _llvm14_spelling(text: str) -> str:
    """LLVM 14 printed `A<B<C> >`; newer LLVM prints `A<B<C>>`."""
    if ">>" not in text:
        return text
    out, pos = [], 0
    for match in re.finditer(_OPERATOR, text):
        out.append(_split_closers(text[pos:match.start()]))
        out.append(match.group(0))
        pos = match.end()
    out.append(_split_closers(text[pos:]))
    return "".join(out)


def _split_closers(text: str) -> str:
    while ">>" in text:
        text = text.replace(">>", "> >")
    return text


def _cplus_demangle(lib: _Library, name: str) -> str:
    import ctypes

    iberty, free = lib
    result = iberty.cplus_demangle(name.encode(), 0)  # 0 = DMGL_NO_OPTS: no parameters, no return type
    if not result:
        return name
    try:
        return ctypes.string_at(result).decode("utf-8", "replace")
    finally:
        free(result)


def _load_libiberty() -> _Library | None:
    """(libbfd with its cplus_demangle, libc's free); None when binutils' libbfd is absent."""
    import ctypes
    import glob

    for path in sorted(glob.glob("/usr/lib/x86_64-linux-gnu/libbfd-*.so")):
        try:
            lib = ctypes.CDLL(path)
        except OSError:  # not loadable on this machine
            continue
        if not hasattr(lib, "cplus_demangle"):
            continue
        lib.cplus_demangle.restype = ctypes.c_void_p
        lib.cplus_demangle.argtypes = [ctypes.c_char_p, ctypes.c_int]
        return lib, _libc_free()
    return None


def _cxa_demangle(lib: _Library, name: str) -> str:
    import ctypes

    cxx, free = lib
    status = ctypes.c_int(0)
    result = cxx.__cxa_demangle(name.encode(), None, None, ctypes.byref(status))
    if not result or status.value != 0:
        return name
    try:
        return ctypes.string_at(result).decode("utf-8", "replace")
    finally:
        free(result)


def _load_libstdcxx() -> _Library:
    """(libstdc++ with its __cxa_demangle, libc's free)."""
    import ctypes
    import ctypes.util

    lib = ctypes.CDLL(ctypes.util.find_library("stdc++") or "libstdc++.so.6")
    lib.__cxa_demangle.restype = ctypes.c_void_p
    lib.__cxa_demangle.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
    return lib, _libc_free()


def _libc_free() -> Callable[[int], None]:
    import ctypes

    free = ctypes.CDLL(None).free
    free.argtypes = [ctypes.c_void_p]
    free.restype = None
    return cast(Callable[[int], None], free)  # a ctypes function pointer


__all__ = ["Demangler", "MEMO_SIZE"]
