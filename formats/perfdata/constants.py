"""perf.data constants from include/uapi/linux/perf_event.h and tools/perf/util/{header,event}.h.

Each group is a plain class of ints named like the C prefix (`PERF_SAMPLE.IP` is PERF_SAMPLE_IP), which
the decoders use; its IntEnum/IntFlag (`SampleType`) is made on first use, because making all of them
costs ~2 ms of import time and `int & IntFlag` builds a new member on every test.
"""

from __future__ import annotations

PERF_MAGIC = b"PERFILE2"            # file written by a little-endian host
PERF_MAGIC_SWAPPED = b"2ELIFREP"    # the same u64 written by a big-endian host
FILE_HEADER_SIZE = 104
PIPE_HEADER_SIZE = 16
NAME_ALIGN = 64                     # perf pads header strings and build-id file names to this
MAX_RECORD_SIZE = 0xFFFF            # perf_event_header.size is a u16


class PERF_RECORD:
    """perf_event_header.type: kernel records (< 64) and perf-tool user records (>= 64)."""

    MMAP = 1
    LOST = 2
    COMM = 3
    EXIT = 4
    THROTTLE = 5
    UNTHROTTLE = 6
    FORK = 7
    READ = 8
    SAMPLE = 9
    MMAP2 = 10
    AUX = 11
    ITRACE_START = 12
    LOST_SAMPLES = 13
    SWITCH = 14
    SWITCH_CPU_WIDE = 15
    NAMESPACES = 16
    KSYMBOL = 17
    BPF_EVENT = 18
    CGROUP = 19
    TEXT_POKE = 20
    AUX_OUTPUT_HW_ID = 21
    HEADER_ATTR = 64
    HEADER_EVENT_TYPE = 65
    HEADER_TRACING_DATA = 66
    HEADER_BUILD_ID = 67
    FINISHED_ROUND = 68
    ID_INDEX = 69
    AUXTRACE_INFO = 70
    AUXTRACE = 71
    AUXTRACE_ERROR = 72
    THREAD_MAP = 73
    CPU_MAP = 74
    STAT_CONFIG = 75
    STAT = 76
    STAT_ROUND = 77
    EVENT_UPDATE = 78
    TIME_CONV = 79
    HEADER_FEATURE = 80
    COMPRESSED = 81
    FINISHED_INIT = 82
    COMPRESSED2 = 83


class PERF_RECORD_MISC:
    """perf_event_header.misc bits; the low three bits are the cpu mode."""

    CPUMODE_MASK = 7
    KERNEL = 1
    USER = 2
    HYPERVISOR = 3
    GUEST_KERNEL = 4
    GUEST_USER = 5
    PROC_MAP_PARSE_TIMEOUT = 1 << 12
    MMAP_DATA = 1 << 13             # also COMM_EXEC and SWITCH_OUT, depending on the record
    EXACT_IP = 1 << 14              # also MMAP_BUILD_ID on MMAP2 records
    EXT_RESERVED = 1 << 15          # also BUILD_ID_SIZE on HEADER_BUILD_ID records


MISC_COMM_EXEC = 1 << 13
MISC_SWITCH_OUT = 1 << 13
MISC_MMAP_BUILD_ID = 1 << 14
MISC_BUILD_ID_SIZE = 1 << 15


class PERF_SAMPLE:
    """perf_event_attr.sample_type bits; sample fields appear in this bit order (IDENTIFIER first)."""

    IP = 1 << 0
    TID = 1 << 1
    TIME = 1 << 2
    ADDR = 1 << 3
    READ = 1 << 4
    CALLCHAIN = 1 << 5
    ID = 1 << 6
    CPU = 1 << 7
    PERIOD = 1 << 8
    STREAM_ID = 1 << 9
    RAW = 1 << 10
    BRANCH_STACK = 1 << 11
    REGS_USER = 1 << 12
    STACK_USER = 1 << 13
    WEIGHT = 1 << 14
    DATA_SRC = 1 << 15
    IDENTIFIER = 1 << 16
    TRANSACTION = 1 << 17
    REGS_INTR = 1 << 18
    PHYS_ADDR = 1 << 19
    AUX = 1 << 20
    CGROUP = 1 << 21
    DATA_PAGE_SIZE = 1 << 22
    CODE_PAGE_SIZE = 1 << 23
    WEIGHT_STRUCT = 1 << 24


class PERF_FORMAT:
    """perf_event_attr.read_format bits."""

    TOTAL_TIME_ENABLED = 1 << 0
    TOTAL_TIME_RUNNING = 1 << 1
    ID = 1 << 2
    GROUP = 1 << 3
    LOST = 1 << 4


class PERF_SAMPLE_BRANCH:
    """perf_event_attr.branch_sample_type bits."""

    USER = 1 << 0
    KERNEL = 1 << 1
    HV = 1 << 2
    ANY = 1 << 3
    ANY_CALL = 1 << 4
    ANY_RETURN = 1 << 5
    IND_CALL = 1 << 6
    ABORT_TX = 1 << 7
    IN_TX = 1 << 8
    NO_TX = 1 << 9
    COND = 1 << 10
    CALL_STACK = 1 << 11
    IND_JUMP = 1 << 12
    CALL = 1 << 13
    NO_FLAGS = 1 << 14
    NO_CYCLES = 1 << 15
    TYPE_SAVE = 1 << 16
    HW_INDEX = 1 << 17
    PRIV_SAVE = 1 << 18
    COUNTERS = 1 << 19


class PERF_BRANCH_ENTRY:
    """perf_branch_entry flag bits (the u64 after from/to); cycles and type are wider fields."""

    MISPRED = 1 << 0
    PREDICTED = 1 << 1
    IN_TX = 1 << 2
    ABORT = 1 << 3


BRANCH_CYCLES_SHIFT = 4             # cycles, 16 bits
BRANCH_TYPE_SHIFT = 20              # branch type, 4 bits


class PERF_ATTR_FLAG:
    """The perf_event_attr bitfield word (disabled, inherit, ... sigtrap)."""

    DISABLED = 1 << 0
    INHERIT = 1 << 1
    PINNED = 1 << 2
    EXCLUSIVE = 1 << 3
    EXCLUDE_USER = 1 << 4
    EXCLUDE_KERNEL = 1 << 5
    EXCLUDE_HV = 1 << 6
    EXCLUDE_IDLE = 1 << 7
    MMAP = 1 << 8
    COMM = 1 << 9
    FREQ = 1 << 10
    INHERIT_STAT = 1 << 11
    ENABLE_ON_EXEC = 1 << 12
    TASK = 1 << 13
    WATERMARK = 1 << 14
    PRECISE_IP_0 = 1 << 15          # precise_ip is two bits
    PRECISE_IP_1 = 1 << 16
    MMAP_DATA = 1 << 17
    SAMPLE_ID_ALL = 1 << 18
    EXCLUDE_HOST = 1 << 19
    EXCLUDE_GUEST = 1 << 20
    EXCLUDE_CALLCHAIN_KERNEL = 1 << 21
    EXCLUDE_CALLCHAIN_USER = 1 << 22
    MMAP2 = 1 << 23
    COMM_EXEC = 1 << 24
    USE_CLOCKID = 1 << 25
    CONTEXT_SWITCH = 1 << 26
    WRITE_BACKWARD = 1 << 27
    NAMESPACES = 1 << 28
    KSYMBOL = 1 << 29
    BPF_EVENT = 1 << 30
    AUX_OUTPUT = 1 << 31
    CGROUP = 1 << 32
    TEXT_POKE = 1 << 33
    BUILD_ID = 1 << 34
    INHERIT_THREAD = 1 << 35
    REMOVE_ON_EXEC = 1 << 36
    SIGTRAP = 1 << 37


class PERF_TYPE:
    """perf_event_attr.type."""

    HARDWARE = 0
    SOFTWARE = 1
    TRACEPOINT = 2
    HW_CACHE = 3
    RAW = 4
    BREAKPOINT = 5


class PERF_COUNT_SW:
    """perf_event_attr.config for PERF_TYPE_SOFTWARE."""

    CPU_CLOCK = 0
    TASK_CLOCK = 1
    PAGE_FAULTS = 2
    CONTEXT_SWITCHES = 3
    CPU_MIGRATIONS = 4
    PAGE_FAULTS_MIN = 5
    PAGE_FAULTS_MAJ = 6
    ALIGNMENT_FAULTS = 7
    EMULATION_FAULTS = 8
    DUMMY = 9
    BPF_OUTPUT = 10
    CGROUP_SWITCHES = 11


class HEADER_FEATURE:
    """Bits of the file header's adds_features bitmap; sections follow the data in bit order."""

    TRACING_DATA = 1
    BUILD_ID = 2
    HOSTNAME = 3
    OSRELEASE = 4
    VERSION = 5
    ARCH = 6
    NRCPUS = 7
    CPUDESC = 8
    CPUID = 9
    TOTAL_MEM = 10
    CMDLINE = 11
    EVENT_DESC = 12
    CPU_TOPOLOGY = 13
    NUMA_TOPOLOGY = 14
    BRANCH_STACK = 15
    PMU_MAPPINGS = 16
    GROUP_DESC = 17
    AUXTRACE = 18
    STAT = 19
    CACHE = 20
    SAMPLE_TIME = 21
    MEM_TOPOLOGY = 22
    CLOCKID = 23
    DIR_FORMAT = 24
    BPF_PROG_INFO = 25
    BPF_BTF = 26
    COMPRESSED = 27
    CPU_PMU_CAPS = 28
    CLOCK_DATA = 29
    HYBRID_TOPOLOGY = 30
    PMU_CAPS = 31


class PERF_CONTEXT:
    """Markers inside a sampled callchain (negative numbers stored as u64)."""

    HV = 2**64 - 32
    KERNEL = 2**64 - 128
    USER = 2**64 - 512
    GUEST = 2**64 - 2048
    GUEST_KERNEL = 2**64 - 2176
    GUEST_USER = 2**64 - 2560


PERF_CONTEXT_MAX = 2**64 - 4095     # every value >= this is a context marker


class PERF_SAMPLE_REGS_ABI:
    """The abi word in front of a register dump."""

    NONE = 0
    ABI_32 = 1
    ABI_64 = 2


class PERF_REG_X86:
    """perf's x86 register numbers (arch/x86/include/uapi/asm/perf_regs.h); dumps follow mask bit order."""

    AX = 0
    BX = 1
    CX = 2
    DX = 3
    SI = 4
    DI = 5
    BP = 6
    SP = 7
    IP = 8
    FLAGS = 9
    CS = 10
    SS = 11
    DS = 12
    ES = 13
    FS = 14
    GS = 15
    R8 = 16
    R9 = 17
    R10 = 18
    R11 = 19
    R12 = 20
    R13 = 21
    R14 = 22
    R15 = 23


# What `perf record --call-graph dwarf` asks for on x86-64: every register but DS/ES/FS/GS.
X86_64_REGS_MASK = ((1 << 24) - 1) & ~((1 << PERF_REG_X86.DS) | (1 << PERF_REG_X86.ES) | (1 << PERF_REG_X86.FS)
                                       | (1 << PERF_REG_X86.GS))

# enum name -> (enum kind, the plain-int group it is made from)
_ENUMS = {
    "RecordType": ("IntEnum", PERF_RECORD), "Misc": ("IntFlag", PERF_RECORD_MISC),
    "SampleType": ("IntFlag", PERF_SAMPLE), "ReadFormat": ("IntFlag", PERF_FORMAT),
    "BranchSampleType": ("IntFlag", PERF_SAMPLE_BRANCH), "BranchFlag": ("IntFlag", PERF_BRANCH_ENTRY),
    "AttrFlag": ("IntFlag", PERF_ATTR_FLAG), "PerfType": ("IntEnum", PERF_TYPE),
    "SoftwareEvent": ("IntEnum", PERF_COUNT_SW), "HeaderFeature": ("IntEnum", HEADER_FEATURE),
    "CallchainContext": ("IntEnum", PERF_CONTEXT), "RegsAbi": ("IntEnum", PERF_SAMPLE_REGS_ABI),
    "X86Reg": ("IntEnum", PERF_REG_X86),
}


def members(group: type) -> dict[str, int]:
    """name -> value of a plain-int group, in definition order."""
    return {name: value for name, value in vars(group).items() if not name.startswith("_")}


def __getattr__(name: str) -> object:
    """Make (once) the IntEnum/IntFlag view of a group: `RecordType`, `SampleType`, `X86Reg`, ..."""
    spec = _ENUMS.get(name)
    if spec is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import enum

    kind, group = spec
    made = getattr(enum, kind)(name, members(group), module=__name__, qualname=name)
    made.__doc__ = group.__doc__
    globals()[name] = made
    return made


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_ENUMS))
