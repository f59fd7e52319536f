"""unwind.demangle: llvm-symbolizer 14's names for every mangled name of real C++ libraries, and no crash on
names nested deeper than LLVM's demangler can recurse."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT, need_tool

from unwind.demangle import MAX_LLVM_NAME, Demangler

LIBJVM = "/usr/lib/jvm/java-17-openjdk-amd64/lib/server/libjvm.so"  # openjdk-17-jdk-headless (.ci/setup)


def mangled_names(path: str) -> list[str]:
    names = set()
    for table in ("--dynamic", "--defined-only"):
        out = subprocess.run([need_tool("nm"), table, path], capture_output=True, text=True, check=True).stdout
        names |= {line.split()[-1].split("@")[0] for line in out.splitlines() if line.split()}  # nm -D: name@VERSION
    return sorted(n for n in names if n.startswith("_Z") and len(n) <= MAX_LLVM_NAME)


@pytest.mark.parametrize("library", [LIBJVM, "/usr/lib/x86_64-linux-gnu/libLLVM-14.so.1",
                                     "/usr/lib/x86_64-linux-gnu/libstdc++.so.6"])
def test_every_mangled_name_as_llvm_14_prints_it(library):
    """llvm-cxxfilt-14 demangles `_Z` names with the itaniumDemangle llvm-symbolizer 14 calls: equal on every
    name, including the template arguments that are expressions (`&(f(int))`), which a newer LLVM prints
    without the parentheses (libjvm: `SortedLinkedList<MallocSite, &(compare_malloc_site(...)), ...>`), and
    libstdc++'s constructors after an ABI tag (LLVM 14: `std::ios_base::failure[abi:cxx11]::(char const*, ...)`)."""
    names = mangled_names(library)
    assert len(names) > 5_000
    theirs = subprocess.run([need_tool("llvm-cxxfilt-14")], input="\n".join(names), capture_output=True, text=True,
                            check=True).stdout.splitlines()
    demangler = Demangler()
    ours = [demangler.llvm(n) for n in names]
    differ = [(n, o, t) for n, o, t in zip(names, ours, theirs) if o != t]
    assert not differ, differ[:3]
    if library == LIBJVM:
        assert any("&(" in name for name in ours)


@pytest.mark.parametrize("name", ["_Z1fP" + "P" * 100_000 + "i", "_Z1f" + "PK" * 4_000 + "i",
                                  "_Z1f" + "I1A" * 30_000 + "i" + "E" * 30_000 + "v"])
def test_names_nested_beyond_the_demanglers_recursion_stay_mangled(name):
    """LLVM's Itanium demangler (libLLVM-14's and pycxxfilt's) recurses per nesting level without a limit:
    100,000 nested pointers overflow an 8 MiB stack.  Every demangler flavour, in a thread with a 1 MiB
    stack (as a worker thread may have), answers without crashing the process."""
    code = ("import sys, threading\n"
            "from unwind.demangle import Demangler\n"
            "name = sys.stdin.read()\n"
            "threading.stack_size(1 << 20)\n"
            "out = []\n"
            "d = Demangler()\n"
            "t = threading.Thread(target=lambda: out.extend((d.llvm(name), d.perf(name), d.cxa(name))))\n"
            "t.start(); t.join()\n"
            "print(len(out), out[0] == name)\n")
    done = subprocess.run([sys.executable, "-c", code], input=name, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.split() == ["3", str(len(name) > MAX_LLVM_NAME)], done.stderr[-500:]


def test_symbolize_a_function_named_too_deep_for_llvm(tmp_path):
    """A real ELF whose function is named `_Z1fPPP...Pi` (100,000 pointers): llvm-symbolizer 14 dies of a stack
    overflow in its demangler, and so did `unwind symbolize` (SIGSEGV in pycxxfilt); it now prints the name as
    it is, exit 0."""
    name = "_Z1fP" + "P" * 100_000 + "i"
    source = tmp_path / "deep.c"
    source.write_text(f'void f(void) __asm__("{name}");\nvoid f(void) {{}}\nint main(void) {{ f(); return 0; }}\n')
    exe = tmp_path / "deep"
    subprocess.run([need_tool("gcc"), "-O0", "-o", str(exe), str(source)], check=True)
    address = next(line.split()[0] for line in subprocess.run([need_tool("nm"), str(exe)], capture_output=True,
                   text=True, check=True).stdout.splitlines() if line.endswith(" " + name))
    done = subprocess.run([sys.executable, "-m", "unwind", "symbolize", f"--obj={exe}", f"0x{address}"],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-300:]
    assert done.stdout.splitlines()[0] == name
