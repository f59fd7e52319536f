"""Symbol demangling as llvm-symbolizer 14 prints it (Itanium C++ and Rust v0).

The grammar is LLVM's own demangler, through the maintained `pycxxfilt` package (it vendors
a newer LLVM); the one spelling LLVM 14 still had differently is restored here: closing
template brackets are separated (`> >`).  Names the demangler rejects stay as they are.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    import ctypes

# A loaded demangler: (the library, libc's free for the strings it returns).
_Handles: TypeAlias = "tuple[ctypes.CDLL, ctypes._NamedFuncPointer]"

# operator tokens that contain '>' and must not be split
_OPERATOR = re.compile(r"operator(?:>>=|>>|>=|->\*|->|>)")


def demangle(name: str) -> str:
    """The name llvm-symbolizer --demangle prints for `name` (unchanged if it is not mangled)."""
    if name.startswith(("_Z", "___Z", "_R")):
        return _demangle_mangled(name)
    return name


@lru_cache(maxsize=65536)
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
    for match in _OPERATOR.finditer(text):
        out.append(_split_closers(text[pos:match.start()]))
        out.append(match.group(0))
        pos = match.end()
    out.append(_split_closers(text[pos:]))
    return "".join(out)


def _split_closers(text: str) -> str:
    while ">>" in text:
        text = text.replace(">>", "> >")
    return text


def demangle_perf(name: str) -> str:
    """The name `perf script` prints: libiberty's cplus_demangle(name, DMGL_NO_OPTS), as Debian's perf calls it.

    libiberty ships inside binutils' libbfd; without it names fall back to llvm-symbolizer's.
    A PLT entry's `name@plt` is demangled without its suffix and given it back, as perf's
    dso__synthesize_plt_symbols names it (`operator delete@plt`).
    """
    if name.endswith("@plt") and name.startswith("_Z"):
        return demangle_perf(name[:-4]) + "@plt"
    if not name.startswith("_Z"):
        return name
    if _libiberty() is None:
        return demangle(name)
    return _cplus_demangle(name)


@lru_cache(maxsize=65536)
def _cplus_demangle(name: str) -> str:
    import ctypes

    handles = _libiberty()
    assert handles is not None  # demangle_perf calls this only when libbfd loaded
    lib, free = handles
    result = lib.cplus_demangle(name.encode(), 0)  # 0 = DMGL_NO_OPTS: no parameters, no return type
    if not result:
        return name
    try:
        return ctypes.string_at(result).decode("utf-8", "replace")
    finally:
        free(result)


_LIBIBERTY: list[_Handles | None] = []


def _libiberty() -> _Handles | None:
    """(libbfd with its cplus_demangle, libc's free), loaded once; None when binutils' libbfd is absent."""
    if not _LIBIBERTY:
        import ctypes
        import glob

        found: _Handles | None = None
        for path in sorted(glob.glob("/usr/lib/x86_64-linux-gnu/libbfd-*.so")):
            try:
                lib = ctypes.CDLL(path)
            except OSError:  # not loadable on this machine
                continue
            if not hasattr(lib, "cplus_demangle"):
                continue
            lib.cplus_demangle.restype = ctypes.c_void_p
            lib.cplus_demangle.argtypes = [ctypes.c_char_p, ctypes.c_int]
            free = ctypes.CDLL(None).free
            free.argtypes = [ctypes.c_void_p]
            found = (lib, free)
            break
        _LIBIBERTY.append(found)
    return _LIBIBERTY[0]


def demangle_cxa(name: str) -> str:
    """The name eu-stack prints: libstdc++'s __cxa_demangle (full signature), for `_Z` names only."""
    if not name.startswith("_Z"):
        return name
    return _cxa_demangle(name)


@lru_cache(maxsize=65536)
def _cxa_demangle(name: str) -> str:
    import ctypes

    lib, free = _libstdcxx()
    status = ctypes.c_int(0)
    result = lib.__cxa_demangle(name.encode(), None, None, ctypes.byref(status))
    if not result or status.value != 0:
        return name
    try:
        return ctypes.string_at(result).decode("utf-8", "replace")
    finally:
        free(result)


@lru_cache(maxsize=1)
def _libstdcxx() -> _Handles:
    """(libstdc++ with its __cxa_demangle, libc's free), loaded once."""
    import ctypes
    import ctypes.util

    lib = ctypes.CDLL(ctypes.util.find_library("stdc++") or "libstdc++.so.6")
    lib.__cxa_demangle.restype = ctypes.c_void_p
    lib.__cxa_demangle.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
    free = ctypes.CDLL(None).free
    free.argtypes = [ctypes.c_void_p]
    return lib, free
