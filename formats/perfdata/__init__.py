"""perf.data: typed records in and out (file and pipe mode, both byte orders, zstd-compressed streams)."""

from .attr import EventAttr
from .constants import (AttrFlag, BranchSampleType, CallchainContext, HeaderFeature, ReadFormat, RecordType,
                        SampleType, X86Reg, X86_64_REGS_MASK)
from .header import FileHeader, FileSection
from .reader import PerfDataReader, ReadStats, Skip, read_perf_data
from .records import (AttrRecord, BuildIdRecord, CommRecord, FeatureRecord, LostRecord, Mmap2Record, MmapRecord,
                      OtherRecord, RecordHeader, SampleId, TaskRecord)
from .sample import Branch, ReadValue, ReadValues, RegsDump, SampleRecord, decode_sample, encode_sample

__all__ = [
    "EventAttr", "AttrFlag", "BranchSampleType", "CallchainContext", "HeaderFeature", "ReadFormat", "RecordType",
    "SampleType", "X86Reg", "X86_64_REGS_MASK", "FileHeader", "FileSection", "PerfDataReader", "ReadStats", "Skip",
    "read_perf_data", "AttrRecord", "BuildIdRecord", "CommRecord", "FeatureRecord", "LostRecord", "Mmap2Record",
    "MmapRecord", "OtherRecord", "RecordHeader", "SampleId", "TaskRecord", "Branch", "ReadValue", "ReadValues",
    "RegsDump", "SampleRecord", "decode_sample", "encode_sample",
]
