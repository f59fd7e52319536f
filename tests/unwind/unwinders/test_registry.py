"""The unwinder registry: built-ins by name, third parties through the `unwind.unwinders` entry points."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from unwind.errors import UsageError
from unwind.model import Frame, Registers, Sample, StopReason, Trace
from unwind.unwinders import available, get_unwinder, register

PLUGIN = textwrap.dedent('''
    from unwind.model import Frame, StopReason, Trace, Via

    class LeafOnly:
        """Reports the sampled pc and nothing else."""
        name = "leaf-only"

        def __init__(self, **options):
            pass

        def unwind(self, sample):
            return Trace((Frame(sample.registers.pc, via=Via.CONTEXT),), StopReason.NO_UNWIND_INFO)
''')


def test_builtins_are_available():
    assert {"fp", "dwarf", "orc", "auto", "scan", "lbr"} <= set(available())
    assert get_unwinder("dwarf").name == "dwarf"


def test_unknown_name_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown unwinder"):
        get_unwinder("no-such-unwinder")


def test_register_in_process():
    class Fixed:
        name = "fixed"

        def __init__(self, **options):
            pass

        def unwind(self, sample):
            return Trace((Frame(1),), StopReason.END)

    register("fixed-test", Fixed)
    assert "fixed-test" in available()
    assert get_unwinder("fixed-test").unwind(Sample(Registers.of(rip=5))).pcs == (1,)


def test_entry_point_plugin_is_found(tmp_path):
    (tmp_path / "leafplugin.py").write_text(PLUGIN)
    dist = tmp_path / "leafplugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: leafplugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[unwind.unwinders]\nleaf-only = leafplugin:LeafOnly\n")
    code = ("from unwind.unwinders import available, get_unwinder\n"
            "from unwind.model import Registers, Sample\n"
            "assert 'leaf-only' in available()\n"
            "print(get_unwinder('leaf-only').unwind(Sample(Registers.of(rip=0x1234))).pcs)\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.strip() == "(4660,)"
