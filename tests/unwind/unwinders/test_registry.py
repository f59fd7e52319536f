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


def test_every_builtin_declares_exactly_the_options_its_factory_takes():
    """The registry's option lists are the factories' own keyword parameters (typed by their annotations):
    nothing a factory takes is refused, and no factory swallows unknown names in **options."""
    import inspect
    from importlib import import_module

    from unwind.unwinders import BUILTINS
    from unwind.unwinders.dwarf import DwarfUnwinder
    from unwind.unwinders.fp import FramePointerUnwinder
    from unwind.unwinders.lbr import LbrUnwinder

    wrapped = {"dwarf-stitched": (DwarfUnwinder, {"lookahead"}, set()),
               "fp-stitched": (FramePointerUnwinder, {"lookahead"}, set()),
               "lbr-stitched": (LbrUnwinder, set(), {"stitch"})}
    for name, entry in BUILTINS.items():
        module, attr = entry.target.split(":")
        factory = getattr(import_module(module, "unwind.unwinders"), attr)
        base, added, fixed = wrapped.get(name, (factory, set(), set()))
        params = inspect.signature(base).parameters
        assert not any(p.kind is p.VAR_KEYWORD for p in params.values()), name
        assert entry.options == (set(params) | added) - fixed, name


@pytest.mark.parametrize("name", ["fp", "fp-naive", "dwarf", "dwarf-stitched", "orc", "lbr", "lbr-stitched",
                                  "auto", "scan"])
def test_a_misspelt_option_is_a_usage_error_naming_it(name):
    with pytest.raises(UsageError, match="max_dept"):
        get_unwinder(name, max_dept=3)
    unwinder = get_unwinder(name, max_depth=3, cache_dir=None)  # the common options reach every one
    assert getattr(unwinder, "base", unwinder).max_depth == 3


def test_compare_names_are_registry_names():
    from unwind.compare import make_unwinder

    assert {"fp-naive", "lbr-stitched", "dwarf-stitched", "fp-stitched"} <= set(available())
    naive = get_unwinder("fp-naive")
    assert naive.prologue is False and naive.name == "fp-naive"
    assert make_unwinder("lbr-stitched").stitch is True


class _SnapshotOnly:
    """A third-party unwinder that knows nothing of other memories."""

    name = "snapshot-only"

    def unwind(self, sample: Sample) -> Trace:
        return Trace((Frame(sample.registers[16], sample.registers[7]),), StopReason.END)


class _Recorder:
    """One that declares it reads through a memory: it is handed the caller's."""

    name = "recorder"
    reads_memory = True

    def __init__(self) -> None:
        self.seen: list[object] = []

    def unwind(self, sample: Sample, memory: object = None) -> Trace:
        self.seen.append(memory)
        return Trace((), StopReason.END)


def test_reading_another_memory_is_part_of_the_typed_interface():
    """`unwind_over` hands a core's or a live process's memory to unwinders declaring `reads_memory`
    (every built-in but the stitched ones) and walks the others on the stack copy: no signature sniffing."""
    from unwind.model import MemoryUnwinder, unwind_over
    from unwind.unwinders import BUILTINS

    for name in BUILTINS:
        assert isinstance(get_unwinder(name), MemoryUnwinder) == (name not in ("dwarf-stitched", "fp-stitched"))
    sample = Sample(Registers.of(rip=0x401000, rsp=0x7000))
    memory = object()
    recorder = _Recorder()
    unwind_over(recorder, sample, memory)
    assert recorder.seen == [memory]
    assert not isinstance(_SnapshotOnly(), MemoryUnwinder)
    assert unwind_over(_SnapshotOnly(), sample, memory).frames[0].pc == 0x401000
