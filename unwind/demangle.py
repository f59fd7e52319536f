"""Symbol demangling as llvm-symbolizer 14, perf script and eu-stack print it: a `Demangler`, owned by
its caller (an `unwind.Session` hands one to its symbolizers and writers), holding its memos (bounded
LRUs, unwind.caches.LRU) and the library handles it loads.

llvm-symbolizer's names (Itanium C++ and Rust v0) come from LLVM's demangler through the maintained
`pycxxfilt` package (it vendors a newer LLVM), with the one LLVM 14 spelling it differs in most restored:
closing template brackets separated (`> >`).  The names where a newer LLVM still prints otherwise (a template
argument that is an expression: LLVM 14 `&(f(int))`, newer `&f(int)`, 111 of libjvm's 53,640 mangled names and
476 of node's 79,017; a constructor after an ABI tag) go to LLVM 14's own `itaniumDemangle` in Debian's
libLLVM-14 (package libllvm14, installed with llvm-symbolizer-14), loaded only then: it costs 13-30 ms.
perf's names come from binutils' libiberty (cplus_demangle, as Debian's perf calls it), eu-stack's from
libstdc++'s __cxa_demangle.  Names the demangler rejects stay as they are.

LLVM's Itanium demangler recurses once per nesting level with no limit and overflows the C stack on a
hostile name (100,000 nested `P`s; 8,192 characters of nested `PK` in a 1 MiB thread stack): names longer
than MAX_LLVM_NAME are printed mangled (the longest in node, libjvm, libLLVM-14 and libstdc++ is 554).
libiberty and __cxa_demangle bound their own recursion.
"""

from __future__ import annotations

import re
from typing import Any, Callable, cast

from .caches import LRU, CacheStats

# operator tokens that contain '>' and must not be split
_OPERATOR = r"operator(?:>>=|>>|>=|->\*|->|>)"  # compiled on first use (re's cache): most runs never need it
MEMO_SIZE = 65536  # names per demangler flavour
MAX_LLVM_NAME = 4096  # longer names are not given to LLVM's demangler (unbounded recursion, see above)
_Library = tuple[Any, Callable[[int], None]]  # (the library with its demangle function, libc's free)
_LLVM14 = ("libLLVM-14.so.1", "libLLVM-14.so")
_ITANIUM = "_ZN4llvm15itaniumDemangleEPKcPcPmPi"  # char *llvm::itaniumDemangle(const char*, char*, size_t*, int*)
_RUST = "_ZN4llvm12rustDemangleEPKcPcPmPi"  # char *llvm::rustDemangle(const char*, char*, size_t*, int*)


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
        self._libllvm: tuple[_Library | None] | None = None

    def llvm(self, name: str) -> str:
        """The name llvm-symbolizer --demangle prints for `name` (unchanged if it is not mangled)."""
        if not name.startswith(("_Z", "___Z", "_R")) or len(name) > MAX_LLVM_NAME:
            return name
        self._calls["llvm"] += 1
        found = self._llvm.get(name)
        if found is None:
            self._misses["llvm"] += 1
            lib = self.libllvm14() if _llvm14_may_differ(name) else None
            found = self._llvm[name] = _llvm14_demangle(lib, name) if lib else _demangle_mangled(name)
        return found

    def libllvm14(self) -> _Library | None:
        """LLVM 14's demanglers (libLLVM-14, ~13-30 ms to load: only for names pycxxfilt may print otherwise)."""
        if self._libllvm is None:
            self._libllvm = (_load_libllvm14(),)
        return self._libllvm[0]

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


def _llvm14_may_differ(name: str) -> bool:
    """Whether pycxxfilt's newer LLVM may print `name` otherwise than LLVM 14: an Itanium name with an
    expression (`X...E` template argument, `Dt`/`DT` decltype) or a constructor/destructor right after an
    ABI tag (`failureB5cxx11C1E`: LLVM 14 prints `failure[abi:cxx11]::(...)`, dropping the name).  Over
    220,976 mangled names of libjvm, node, libLLVM-14, libclang-cpp, libstdc++, boost, ICU and 300 Debian debug
    files, every difference was in such a name (5,904 of them); the rest demangle without loading libLLVM."""
    if name.startswith("_R"):
        return False  # Rust v0: equal on all 613 names of a rustc 1.95 binary
    if "X" in name or "Dt" in name or "DT" in name:
        return True
    for tag in re.finditer(r"B(\d+)", name):
        end = tag.end() + int(tag.group(1))
        if name[end:end + 1] in ("C", "D") and name[end + 1:end + 2].isdigit():
            return True
    return False


def _llvm14_demangle(lib: _Library, name: str) -> str:
    """LLVM 14's nonMicrosoftDemangle for the names llvm-symbolizer 14 demangles: `_Z`/`___Z` by
    itaniumDemangle, `_R` by rustDemangle; a name either rejects stays as it is."""
    llvm, free = lib
    demangle = llvm.rust if name.startswith("_R") else llvm.itanium
    return _taken(demangle(name.encode(), None, None, None), free, name)


class _Llvm14:
    """libLLVM-14's two demangling entry points."""

    def __init__(self, library: Any) -> None:
        import ctypes

        self.itanium, self.rust = getattr(library, _ITANIUM), getattr(library, _RUST)
        for function in (self.itanium, self.rust):
            function.restype = ctypes.c_void_p
            function.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]


def _load_libllvm14() -> _Library | None:
    """(LLVM 14's demanglers, libc's free); None without libLLVM-14 (or one lacking them)."""
    import ctypes

    for name in _LLVM14:
        try:
            library = ctypes.CDLL(name)
        except OSError:  # not installed
            continue
        if hasattr(library, _ITANIUM) and hasattr(library, _RUST):  # else not the library we know
            return _Llvm14(library), _libc_free()
    return None


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
    iberty, free = lib
    result = iberty.cplus_demangle(name.encode(), 0)  # 0 = DMGL_NO_OPTS: no parameters, no return type
    return _taken(result, free, name)


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
    return _taken(result if status.value == 0 else None, free, name)


def _taken(result: int | None, free: Callable[[int], None], name: str) -> str:
    """The text of a demangler's malloc'd answer, freed; `name` itself when there is none."""
    import ctypes

    if not result:
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


__all__ = ["Demangler", "MEMO_SIZE", "MAX_LLVM_NAME"]
