"""perf.data: typed records in and out (file and pipe mode, both byte orders, zstd-compressed streams).

The IntEnum/IntFlag constants (RecordType, SampleType, ...) are made on first use: see constants.py.
"""

from . import constants
from .attr import EventAttr
from .constants import X86_64_REGS_MASK
from .header import FileHeader, FileSection
from .reader import PerfDataReader, ReadStats, Skip, read_perf_data
from .records import (AttrRecord, BuildIdRecord, CommRecord, FeatureRecord, LostRecord, Mmap2Record, MmapRecord,
                      OtherRecord, RecordHeader, SampleId, TaskRecord)
from .sample import Branch, ReadValue, ReadValues, RegsDump, SampleRecord, decode_sample, encode_sample
from .samplelayout import SampleLayout

_ENUMS = ("AttrFlag", "BranchSampleType", "CallchainContext", "HeaderFeature", "ReadFormat", "RecordType",
          "SampleType", "X86Reg")

__all__ = [
    *_ENUMS, "EventAttr", "X86_64_REGS_MASK", "FileHeader", "FileSection", "PerfDataReader", "ReadStats", "Skip",
    "read_perf_data", "AttrRecord", "BuildIdRecord", "CommRecord", "FeatureRecord", "LostRecord", "Mmap2Record",
    "MmapRecord", "OtherRecord", "RecordHeader", "SampleId", "TaskRecord", "Branch", "ReadValue", "ReadValues",
    "RegsDump", "SampleRecord", "SampleLayout", "decode_sample", "encode_sample",
]


def __getattr__(name: str) -> object:
    if name in _ENUMS:
        return getattr(constants, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_ENUMS))
