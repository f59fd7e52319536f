"""Write a file-mode perf.data (one event) that `perf script` and `perf report` read."""

from __future__ import annotations

import os
import platform
from types import TracebackType
from typing import Mapping, Sequence

from .attr import ATTR_SIZE_VER7, EventAttr
from .codec import LITTLE, layout
# The plain-int groups, not their IntEnum views: the values only go into the bytes written.
from .constants import (FILE_HEADER_SIZE, HEADER_FEATURE, MISC_BUILD_ID_SIZE, MISC_COMM_EXEC, MISC_MMAP_BUILD_ID,
                        PERF_ATTR_FLAG, PERF_COUNT_SW, PERF_RECORD, PERF_RECORD_MISC, PERF_SAMPLE, PERF_SAMPLE_BRANCH,
                        PERF_SAMPLE_REGS_ABI, PERF_TYPE, X86_64_REGS_MASK)
from .header import FileHeader, FileSection, encode_build_ids, encode_string
from .records import (BuildIdRecord, CommRecord, Mmap2Record, NonSampleRecord, OtherRecord, RecordHeader, SampleId,
                      TaskRecord)
from .sample import Branch, RegsDump, SampleRecord, encode_sample


def default_attr(regs_mask: int = X86_64_REGS_MASK, stack_size: int = 8192, branch: bool = True,
                 callchain: bool = False, period: int = 10000, hw_index: bool = False) -> EventAttr:
    """cpu-clock sampling user registers + stack (+ call-stack LBR), as the simulator records it."""
    st = PERF_SAMPLE.IP | PERF_SAMPLE.TID | PERF_SAMPLE.TIME | PERF_SAMPLE.PERIOD
    st |= (PERF_SAMPLE.CALLCHAIN if callchain else 0) | (PERF_SAMPLE.BRANCH_STACK if branch else 0)
    st |= (PERF_SAMPLE.REGS_USER if regs_mask else 0) | (PERF_SAMPLE.STACK_USER if stack_size else 0)
    bst = PERF_SAMPLE_BRANCH.USER | PERF_SAMPLE_BRANCH.CALL_STACK | (PERF_SAMPLE_BRANCH.HW_INDEX if hw_index else 0)
    f = PERF_ATTR_FLAG
    flags = (f.DISABLED | f.INHERIT | f.MMAP | f.COMM | f.ENABLE_ON_EXEC | f.SAMPLE_ID_ALL | f.EXCLUDE_KERNEL
             | f.EXCLUDE_HV | f.MMAP2 | f.COMM_EXEC)
    return EventAttr(PERF_TYPE.SOFTWARE, PERF_COUNT_SW.CPU_CLOCK, period, int(st), flags=int(flags),
                     branch_sample_type=int(bst) if branch else 0, sample_regs_user=regs_mask,
                     sample_stack_user=stack_size, size=ATTR_SIZE_VER7)


class PerfDataWriter:
    """Streams records to `path`; close() writes the attr table, feature sections and the header.

    With callchain=True and an empty callchain, `perf script` DWARF-unwinds each sample from its
    registers and stack; a callchain of (CallchainContext.USER, ip) makes it use the call-stack LBR.
    """

    def __init__(self, path: str | os.PathLike[str], regs_mask: int = X86_64_REGS_MASK, stack_size: int = 8192,
                 branch: bool = True, callchain: bool = False, period: int = 10000, hw_index: bool = False,
                 attr: EventAttr | None = None, endian: str = LITTLE, round_every: int = 1000):
        self.attr = attr or default_attr(regs_mask, stack_size, branch, callchain, period, hw_index)
        self.endian = endian
        self._fh = open(path, "wb")
        self._attr_bytes = self.attr.to_bytes(endian)
        ids = layout(endian, f"{len(self.attr.ids)}Q").pack(*self.attr.ids)
        self._ids_at = FILE_HEADER_SIZE
        self._attrs = FileSection(self._ids_at + len(ids), len(self._attr_bytes) + 16)
        self._fh.write(bytes(FILE_HEADER_SIZE) + ids + self._attr_bytes
                       + layout(endian, "QQ").pack(self._ids_at, len(ids)))
        self._data_start = self._fh.tell()
        self._build_ids: dict[str, BuildIdRecord] = {}
        self._round_every, self._since_round = round_every, 0
        self.samples = 0

    # -- records ------------------------------------------------------------------------------------

    def comm(self, pid: int, tid: int, name: str, time: int = 0, exec_: bool = True) -> None:
        misc = PERF_RECORD_MISC.USER | (MISC_COMM_EXEC if exec_ else 0)
        self.record(CommRecord(pid, tid, name, int(misc)), SampleId(pid, tid, time))

    def mmap2(self, pid: int, tid: int, start: int, length: int, pgoff: int, path: str,
              build_id: bytes | None = None, prot: int = 5, flags: int = 2, time: int = 0,
              build_id_in_record: bool = False) -> None:
        """A file mapping; a build-id goes to the HEADER_BUILD_ID feature (and the record itself if asked)."""
        misc = int(PERF_RECORD_MISC.USER) | (MISC_MMAP_BUILD_ID if build_id is not None and build_id_in_record else 0)
        rec = Mmap2Record(pid, tid, start, length, pgoff, path, build_id=build_id if build_id_in_record else None,
                          prot=prot, flags=flags, misc=misc)
        self.record(rec, SampleId(pid, tid, time))
        if build_id is not None:
            self.add_build_id(path, build_id)

    def fork(self, pid: int, ppid: int, tid: int, ptid: int, time: int = 0, exit_: bool = False) -> None:
        kind = PERF_RECORD.EXIT if exit_ else PERF_RECORD.FORK
        self.record(TaskRecord(kind, pid, ppid, tid, ptid, time), SampleId(pid, tid, time))

    def add_build_id(self, path: str, build_id: bytes, kernel: bool = False) -> None:
        misc = (PERF_RECORD_MISC.KERNEL if kernel else PERF_RECORD_MISC.USER) | MISC_BUILD_ID_SIZE
        self._build_ids[path] = BuildIdRecord(-1, bytes(build_id), path, int(misc))

    def sample(self, pid: int, tid: int, time: int, ip: int, regs: Mapping[int, int] | Sequence[int] = (),
               stack: bytes = b"", branches: Sequence[Branch | tuple[int, int, int]] = (),
               callchain: Sequence[int] = (), period: int | None = None, dyn_size: int | None = None,
               branch_hw_index: int | None = None, misc: int = PERF_RECORD_MISC.USER) -> None:
        """One SAMPLE; `regs` is perf register number -> value (or values in mask order)."""
        a = self.attr
        if isinstance(regs, Mapping):
            values = tuple(regs.get(bit, 0) for bit in range(64) if a.sample_regs_user >> bit & 1)
        else:
            values = tuple(regs)
        size = a.sample_stack_user
        dump = bytes(stack[:size]).ljust(size, b"\0")
        rec = SampleRecord(
            ip=ip, pid=pid, tid=tid, time=time, period=a.sample_period if period is None else period,
            callchain=tuple(callchain), branch_hw_index=branch_hw_index,
            branches=tuple(b if isinstance(b, Branch) else Branch(*b) for b in branches),
            regs_user=RegsDump(PERF_SAMPLE_REGS_ABI.ABI_64 if values else PERF_SAMPLE_REGS_ABI.NONE,
                               a.sample_regs_user, values),
            stack_user=dump, stack_user_dyn_size=min(len(stack), size) if dyn_size is None else dyn_size,
            misc=int(misc))
        self._emit(PERF_RECORD.SAMPLE, rec.misc, encode_sample(rec, a, self.endian))
        self.samples += 1
        self._since_round += 1
        if self._round_every and self._since_round >= self._round_every:
            self.record(OtherRecord(PERF_RECORD.FINISHED_ROUND, b""))
            self._since_round = 0

    def record(self, rec: NonSampleRecord, sample_id: SampleId | None = None) -> None:
        """Any non-sample record; kernel records get the sample_id_all trailer."""
        rtype = rec.TYPE
        body = rec.body(self.endian)
        if rtype < 64 and self.attr.sample_id_all:
            body += (sample_id or SampleId()).to_bytes(self.attr.sample_type, self.endian)
        self._emit(rtype, rec.misc, body)

    def _emit(self, rtype: int, misc: int, body: bytes) -> None:
        if len(body) + 8 > 0xFFFF:
            raise ValueError(f"record of {len(body) + 8} bytes does not fit perf's u16 size")
        self._fh.write(RecordHeader(rtype, misc, len(body) + 8).to_bytes(self.endian) + body)

    # -- finishing ----------------------------------------------------------------------------------

    def _features(self) -> dict[int, bytes]:
        e = self.endian
        feats = {
            HEADER_FEATURE.BUILD_ID: encode_build_ids(list(self._build_ids.values()), e),
            HEADER_FEATURE.HOSTNAME: encode_string(platform.node() or "unwind", e),
            HEADER_FEATURE.OSRELEASE: encode_string(platform.release(), e),
            HEADER_FEATURE.VERSION: encode_string("6.1.unwind", e),
            HEADER_FEATURE.ARCH: encode_string("x86_64", e),
            HEADER_FEATURE.NRCPUS: layout(e, "II").pack(os.cpu_count() or 1, os.cpu_count() or 1),
            HEADER_FEATURE.CMDLINE: layout(e, "I").pack(1) + encode_string("unwind simulate", e),
        }
        if self.attr.sample_type & PERF_SAMPLE.BRANCH_STACK:
            feats[HEADER_FEATURE.BRANCH_STACK] = b""
        return dict(sorted(feats.items()))

    def close(self) -> None:
        if self._fh.closed:
            return
        data = FileSection(self._data_start, self._fh.tell() - self._data_start)
        feats = self._features()
        at = data.end + 16 * len(feats)
        index, blobs = b"", b""
        for blob in feats.values():
            index += layout(self.endian, "QQ").pack(at + len(blobs), len(blob))
            blobs += blob
        self._fh.write(index + blobs)
        header = FileHeader(FILE_HEADER_SIZE, self._attrs.size, self._attrs, data, FileSection(0, 0),
                            sum(1 << f for f in feats), self.endian)
        self._fh.seek(0)
        self._fh.write(header.to_bytes())
        self._fh.close()

    def __enter__(self) -> "PerfDataWriter":
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()
