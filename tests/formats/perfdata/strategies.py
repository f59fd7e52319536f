"""Hypothesis strategies shared by the SAMPLE tests: an attr and a sample with every field its sample_type asks for."""

from __future__ import annotations


from hypothesis import strategies as st

from formats.perfdata import Branch, ReadFormat, ReadValue, ReadValues, RegsDump, SampleRecord, SampleType
from formats.perfdata.constants import BranchSampleType
from formats.perfdata.writer import default_attr

U64 = st.integers(0, 2**64 - 1)
I32 = st.integers(-(2**31), 2**31 - 1)
ALL_BITS = [m for m in SampleType if m is not SampleType.WEIGHT_STRUCT]


_BITS = st.lists(st.sampled_from(ALL_BITS), unique=True)


@st.composite
def attr_and_sample(draw, bits=_BITS):
    """(attr, sample) over a random subset of the sample_type bits (`bits` draws the subset)."""
    bits = draw(bits)
    st_ = sum(int(b) for b in bits)
    read_format = draw(st.integers(0, 31))
    user_mask, intr_mask = draw(st.integers(0, 2**24 - 1)), draw(st.integers(0, 2**24 - 1))
    hw_index = draw(st.booleans())
    stack_size = draw(st.sampled_from([0, 8, 64]))
    attr = default_attr()._replace(sample_type=st_, read_format=read_format, sample_regs_user=user_mask,
                   sample_regs_intr=intr_mask, sample_stack_user=stack_size,
                   branch_sample_type=int(BranchSampleType.ANY | (BranchSampleType.HW_INDEX if hw_index else 0)))
    S, f = SampleType, {}
    ident = draw(U64)
    for bit, name in ((S.IP, "ip"), (S.TIME, "time"), (S.ADDR, "addr"), (S.STREAM_ID, "stream_id"),
                      (S.PERIOD, "period"), (S.WEIGHT, "weight"), (S.DATA_SRC, "data_src"),
                      (S.TRANSACTION, "transaction"), (S.PHYS_ADDR, "phys_addr"), (S.CGROUP, "cgroup"),
                      (S.DATA_PAGE_SIZE, "data_page_size"), (S.CODE_PAGE_SIZE, "code_page_size")):
        if st_ & bit:
            f[name] = draw(U64)
    if st_ & (S.ID | S.IDENTIFIER):
        f["id"] = ident
    if st_ & S.TID:
        f["pid"], f["tid"] = draw(I32), draw(I32)
    if st_ & S.CPU:
        f["cpu"] = draw(st.integers(0, 2**32 - 1))
    if st_ & S.READ:
        group = read_format & ReadFormat.GROUP
        n = draw(st.integers(0, 3)) if group else 1
        vals = tuple(ReadValue(draw(U64), draw(U64) if read_format & ReadFormat.ID else None,
                               draw(U64) if read_format & ReadFormat.LOST else None) for _ in range(n))
        f["read"] = ReadValues(vals, draw(U64) if read_format & ReadFormat.TOTAL_TIME_ENABLED else None,
                               draw(U64) if read_format & ReadFormat.TOTAL_TIME_RUNNING else None)
    if st_ & S.CALLCHAIN:
        f["callchain"] = tuple(draw(st.lists(U64, max_size=5)))
    if st_ & S.RAW:
        f["raw"] = draw(st.binary(max_size=20).map(lambda b: b + bytes(-(len(b) + 4) % 8)))
    if st_ & S.BRANCH_STACK:
        f["branches"] = tuple(Branch(draw(U64), draw(U64), draw(st.integers(0, 2**33 - 1)))
                              for _ in range(draw(st.integers(0, 3))))
        if hw_index:
            f["branch_hw_index"] = draw(U64)
    for bit, name, mask in ((S.REGS_USER, "regs_user", user_mask), (S.REGS_INTR, "regs_intr", intr_mask)):
        if st_ & bit:
            abi = draw(st.sampled_from([0, 2]))
            f[name] = RegsDump(abi, mask, tuple(draw(U64) for _ in range(mask.bit_count())) if abi else ())
    if st_ & S.STACK_USER:
        f["stack_user"] = draw(st.binary(min_size=stack_size, max_size=stack_size))
        f["stack_user_dyn_size"] = draw(st.integers(0, stack_size)) if stack_size else 0
    if st_ & S.AUX:
        f["aux"] = draw(st.binary(max_size=16).map(lambda b: b + bytes(-len(b) % 8)))
    return attr, SampleRecord(**f)
