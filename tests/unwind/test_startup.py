"""What a run pays before it reads a byte: every module imports in a fresh interpreter, and the modules of an
`unwind perf` run make typing compile no string annotation (each string NamedTuple field is a compile();
the first compile() of a process costs ~10 M instructions: NOTES.md, issue 16)."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import ROOT

PERF_PATH = ("unwind.cli", "unwind.cli.perf", "unwind.api", "unwind.session", "unwind.pipeline", "unwind.perfsession",
             "unwind.unwinders.dwarf", "unwind.resolve", "unwind.symbolizer", "unwind.kernel", "unwind.cfi_tables",
             "formats.perfscript", "formats.profile")
STILL_COMPILING: set[str] = set()  # modules of the path allowed to make typing compile (none since 5d39e28)

# Records, for each compile() typing makes, the first frame outside typing: the module whose class or alias
# made it (a stale .pyc compiled by importlib does not count).
COUNT_COMPILES = """
import builtins, json, sys
compiled = {}
real = builtins.compile
def counting(*args, **kwargs):
    frame = sys._getframe(1)
    if frame.f_code.co_filename.endswith("typing.py"):
        while frame is not None and frame.f_code.co_filename.endswith(("typing.py", "functools.py")):
            frame = frame.f_back
        where = frame.f_code.co_filename.replace(ROOT + "/", "") if frame is not None else "?"
        compiled[where] = compiled.get(where, 0) + 1
    return real(*args, **kwargs)
builtins.compile = counting
for name in MODULES:
    __import__(name)
print(json.dumps(compiled))
"""


def _python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout


def test_every_module_imports_in_a_fresh_interpreter():
    # a module without `from __future__ import annotations` evaluates its annotations: a TYPE_CHECKING-only
    # name left unquoted there is a NameError at import, which mypy does not see
    out = _python("import pkgutil, importlib, unwind, formats\n"
                  "names = [m.name for p in (unwind, formats) for m in pkgutil.walk_packages(p.__path__, p.__name__ + '.')"
                  " if not m.name.endswith('__main__')]\n"
                  "for name in names: importlib.import_module(name)\n"
                  "print(len(names))")
    assert int(out) > 100


def test_perf_path_makes_typing_compile_nothing():
    code = f"ROOT = {str(ROOT)!r}\nMODULES = {PERF_PATH!r}\n" + COUNT_COMPILES
    compiled = json.loads(_python(code))
    assert set(compiled) <= STILL_COMPILING, compiled


def test_the_counter_sees_a_string_annotated_namedtuple():
    # the check above can fail: a NamedTuple with string annotations is counted, once per field
    code = (f"ROOT = {str(ROOT)!r}\nMODULES = ()\n" + COUNT_COMPILES.replace(
        "print(json.dumps(compiled))",
        "exec(real('from __future__ import annotations\\nfrom typing import NamedTuple\\n"
        "class P(NamedTuple):\\n    x: int\\n    y: int | None\\n', 'probe.py', 'exec'), {'__name__': 'probe'})\n"
        "print(json.dumps(compiled))"))
    assert json.loads(_python(code)) == {"probe.py": 2}
