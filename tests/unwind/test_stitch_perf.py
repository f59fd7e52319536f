"""Stitching on a real `perf record --call-graph dwarf` recording (perf's default 8 KiB stack copy).

The deep C++ program (tests/data/perf/deep.cc) keeps a 250-300 frame stack for many samples; at
8 KiB most samples are truncated. Every stitched return address must lie in mapped code right
after a call instruction (decoded with capstone from the mapped file), and stitched stacks must end
where the complete (unstitched) ones end.
"""

from __future__ import annotations

import capstone
import pytest

from conftest import load_helper, need_tool
from formats.errors import UnwindError
from unwind.memory import AddressSpace
from unwind.model import StopReason, Via
from unwind.modules import ModuleResolver
from unwind.perfsession import read_samples
from unwind.stitch import truncated_by_copy
from unwind.unwinders import get_unwinder

deep = load_helper("data/perf/deepstacks.py", "unwind_test_deepstacks")
CS = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    need_tool("perf")
    tmp = tmp_path_factory.mktemp("deep")
    # 4 kHz: a descent through the chain takes a few ms, and a truncated copy (~70 frames) is joined only
    # where a sample of the same descent lies within its depth; at 1 kHz a fast machine samples too
    # sparsely (31-127 of ~250 joined where the session before joined over half).
    return read_samples(str(deep.record(tmp, "c++", deep.programs(tmp)["c++"], frequency=4000)))


def after_call(memory: AddressSpace, address: int) -> bool:
    """Whether the bytes before `address` end with a call instruction (call rel32, call r/m of 2-7 bytes)."""
    for length in (5, 2, 3, 4, 6, 7):
        try:
            code = memory.read(address - length, length)
        except UnwindError:
            continue
        insn = next(CS.disasm_lite(code, address - length, 1), None)
        if insn is not None and insn[1] == length and insn[2] == "call":
            return True
    return False


def test_stitched_frames_follow_calls_and_end_where_complete_stacks_end(samples):
    resolver = ModuleResolver()
    plain = [get_unwinder("dwarf", resolver=resolver).unwind(s) for s in samples]
    stitched = list(get_unwinder("dwarf-stitched", resolver=resolver).unwind_all(samples))
    truncated = sum(truncated_by_copy(s, t) for s, t in zip(samples, plain))
    assert truncated > len(samples) // 2  # the program's stack is far deeper than 8 KiB
    ends = {t.frames[-1].pc for t in plain if t.stop is StopReason.END}
    assert ends
    joined = 0
    for sample, before, after in zip(samples, plain, stitched):
        extra = after.frames[len(before.frames):]
        assert after.frames[:len(before.frames)] == before.frames
        if not extra:
            continue
        joined += 1
        memory = AddressSpace(sample, resolver)
        for frame in extra:
            assert frame.via is Via.STITCHED and frame.is_return_address
            assert sample.modules.find(frame.pc) is not None, hex(frame.pc)
            assert after_call(memory, frame.pc), hex(frame.pc)
        if after.stop is StopReason.END:
            assert after.frames[-1].pc in ends
    assert joined > truncated // 2
