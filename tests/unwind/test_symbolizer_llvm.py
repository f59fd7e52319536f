"""Acceptance: our frames equal llvm-symbolizer's (--inlines) on real Debian binaries."""

from __future__ import annotations

import pytest

from conftest import LIBC, LIBSTDCXX_DBG, PYTHON_DBG, need_tool
from llvm_peer import compare, llvm_frames, random_function_addresses
from unwind.modules import find_debug_file
from formats.elf import ElfFile
from unwind.symbolizer import Symbolizer

COUNT = 3000


def _libc_debug() -> str:
    path = find_debug_file(ElfFile(LIBC))
    assert path, "libc6-dbg must provide libc's build-id debug file"
    return path


CASES = {
    "python3.11d": (str(PYTHON_DBG), str(PYTHON_DBG)),
    "libc.so.6": (str(LIBC), None),  # addresses drawn from the debug file's full .symtab
    "libstdc++-dbg": (str(LIBSTDCXX_DBG), str(LIBSTDCXX_DBG)),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_llvm_symbolizer(name, tmp_path):
    need_tool("llvm-symbolizer")
    obj, address_source = CASES[name]
    addresses = random_function_addresses(address_source or _libc_debug(), COUNT, seed=7)
    theirs = llvm_frames(obj, addresses)
    ours = Symbolizer(index_dir=tmp_path).symbolize(obj, addresses)
    agreement = compare(obj, addresses, ours, theirs)
    sample = "\n".join(f"{a:#x}: ours={x} llvm={y}" for a, x, y in agreement.differences[:10])
    assert agreement.rate >= 0.995, f"{agreement.same}/{agreement.total} agree\n{sample}"
