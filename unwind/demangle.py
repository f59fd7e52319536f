"""Symbol demangling as llvm-symbolizer 14 prints it (Itanium C++ and Rust v0).

The grammar is LLVM's own demangler, through the maintained `pycxxfilt` package (it vendors
a newer LLVM); the one spelling LLVM 14 still had differently is restored here: closing
template brackets are separated (`> >`).  Names the demangler rejects stay as they are.
"""

from __future__ import annotations

import re

from cachetools import LRUCache, cached

# operator tokens that contain '>' and must not be split
_OPERATOR = re.compile(r"operator(?:>>=|>>|>=|->\*|->|>)")


def demangle(name: str) -> str:
    """The name llvm-symbolizer --demangle prints for `name` (unchanged if it is not mangled)."""
    if name.startswith(("_Z", "___Z", "_R")):
        return _demangle_mangled(name)
    return name


@cached(LRUCache(maxsize=65536))
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
