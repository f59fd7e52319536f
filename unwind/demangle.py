"""Symbol demangling with llvm-symbolizer's output conventions (Itanium C++ and Rust).

The Itanium grammar is left to the C++ runtime's own demangler (`abi::__cxa_demangle`,
reached through the `cxxfilt` package); this module only adds where LLVM 14 prints the
same tree differently: clone suffixes as ` (.cold)`, lambdas as `'lambda'(…)`, unnamed
types as `'unnamed'`, generic lambda parameters as `auto`; transaction clones stay mangled.
"""

from __future__ import annotations

import re

import cxxfilt
from cachetools import LRUCache, cached

_LAMBDA = re.compile(r"\{lambda\(((?:[^{}]|\{[^{}]*\})*)\)#(\d+)\}")
_UNNAMED = re.compile(r"\{unnamed type#(\d+)\}")
_AUTO = re.compile(r"\bauto:\d+")


@cached(LRUCache(maxsize=65536))
def demangle(name: str) -> str:
    """The name llvm-symbolizer --demangle prints for `name` (unchanged if it is not mangled)."""
    if name.startswith("_Z") and not name.startswith("_ZGT"):
        return _demangle_itanium(name)
    return name


def _demangle_itanium(name: str) -> str:
    dot = name.find(".", 2)
    core, suffix = (name, "") if dot < 0 else (name[:dot], f" ({name[dot:]})")
    try:
        text = cxxfilt.demangle(core, external_only=False)
    except cxxfilt.Error:
        return name
    if text == core:
        return name
    return _llvm_spelling(text) + suffix


def _discriminator(number: str) -> str:
    """LLVM numbers the second lambda/unnamed type of a scope 0, the third 1, and the first not at all."""
    n = int(number)
    return "" if n <= 1 else str(n - 2)


def _llvm_spelling(text: str) -> str:
    if "{" not in text and "auto:" not in text:
        return text
    text = _AUTO.sub("auto", text)
    text = _UNNAMED.sub(lambda m: f"'unnamed{_discriminator(m.group(1))}'", text)
    while True:
        new = _LAMBDA.sub(lambda m: f"'lambda{_discriminator(m.group(2))}'({m.group(1)})", text)
        if new == text:
            return text
        text = new
