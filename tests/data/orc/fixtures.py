"""Real ORC inputs for the tests: Debian kernel modules (6.1 and 6.12 layouts) and objtool-processed user programs.

`python tests/data/orc/fixtures.py fetch` (run by the set-up) downloads the two kernel image packages
with `apt-get download` and unpacks only the modules the tests use into the cache directory
($UNWIND_TEST_CACHE/orc, default ~/.cache/unwind-tests/orc).  User objects are built on demand:
gcc -O2 -c orc_user.c, `objtool --orc` of each kernel version, then linked with gcc.
"""

from __future__ import annotations

import fcntl
import glob
import lzma
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("UNWIND_TEST_CACHE", Path.home() / ".cache" / "unwind-tests")) / "orc"

# version -> (package, regex for a newer ABI of the same flavour, modules under lib/modules/*/)
KERNELS = {
    "6.1": ("linux-image-6.1.0-56-cloud-amd64-unsigned", r"^linux-image-6\.1\.0-(\d+)-cloud-amd64-unsigned$",
            ("kernel/net/key/af_key.ko", "kernel/drivers/misc/vmw_balloon.ko", "kernel/fs/autofs/autofs4.ko")),
    "6.12": ("linux-image-6.12.117+deb12-cloud-amd64-unsigned",
             r"^linux-image-6\.12\.(\d+)\+deb12-cloud-amd64-unsigned$",
             ("kernel/net/key/af_key.ko.xz", "kernel/fs/autofs/autofs4.ko.xz")),
}
OBJTOOLS = {
    "6.1": ("/usr/lib/linux-kbuild-6.1/tools/objtool/objtool",),
    "6.12": ("/usr/lib/linux-kbuild-6.12.117+deb12/tools/objtool/objtool.real-x86",
             "/usr/lib/linux-kbuild-6.12*/tools/objtool/objtool.real-x86"),
}


def objtool(version: str) -> str | None:
    """The objtool binary of kernel `version` from Debian's linux-kbuild package, None if not installed."""
    for pattern in OBJTOOLS[version]:
        found = sorted(glob.glob(pattern))
        if found:
            return found[-1]
    return None


def _package(version: str) -> str:
    package, pattern, _ = KERNELS[version]
    names = subprocess.run(["apt-cache", "pkgnames", "linux-image-6."], capture_output=True, text=True).stdout.split()
    if package in names:
        return package
    newer = sorted((int(m[1]), n) for n in names if (m := re.match(pattern, n)))
    if not newer:
        raise RuntimeError(f"no Debian package like {package} (run apt-get update)")
    return newer[-1][1]


def kernel_modules(version: str) -> list[Path]:
    """The test modules of kernel `version`, decompressed; downloaded and unpacked on first use."""
    paths = [CACHE / version / Path(rel).name.removesuffix(".xz") for rel in KERNELS[version][2]]
    if not all(p.is_file() for p in paths) or not (CACHE / version / "vmlinux").is_file():
        (CACHE / version).mkdir(parents=True, exist_ok=True)
        with open(CACHE / version / ".lock", "w") as lock:  # pytest-xdist workers may arrive together
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not all(p.is_file() for p in paths) or not (CACHE / version / "vmlinux").is_file():
                _unpack(version)
    return paths


def vmlinux(version: str) -> Path:
    """The kernel proper (ELF, symbols stripped) out of the package's bzImage /boot/vmlinuz-*."""
    kernel_modules(version)
    return CACHE / version / "vmlinux"


def _unpack(version: str) -> None:
    _, _, wanted = KERNELS[version]
    root = CACHE / version
    root.mkdir(parents=True, exist_ok=True)
    package = _package(version)
    debs = list(root.glob(f"{package}_*.deb"))
    if not debs:
        subprocess.run(["apt-get", "download", "-q", package], cwd=root, check=True, capture_output=True)
        debs = list(root.glob(f"{package}_*.deb"))
    unpack = root / "unpack"
    unpack.mkdir(exist_ok=True)
    tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(debs[0])], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(unpack), "--wildcards", "./boot/vmlinuz-*",
                    *(f"*/{rel}" for rel in wanted)], stdin=tar.stdout, check=True)
    if tar.wait():
        raise RuntimeError(f"dpkg-deb could not unpack {debs[0]}")
    for rel in wanted:
        data = next(unpack.glob(f"lib/modules/*/{rel}")).read_bytes()
        (root / Path(rel).name.removesuffix(".xz")).write_bytes(lzma.decompress(data) if rel.endswith(".xz") else data)
    (root / "vmlinux").write_bytes(_bzimage_payload(next(unpack.glob("boot/vmlinuz-*")).read_bytes()))
    shutil.rmtree(unpack)
    for deb in debs:
        deb.unlink()
    (root / "PACKAGE").write_text(package + "\n")


def _bzimage_payload(image: bytes) -> bytes:
    """Decompress the vmlinux inside a bzImage (boot protocol: payload_offset/length at 0x248)."""
    setup_sects = image[0x1F1] or 4
    offset, length = struct.unpack_from("<II", image, 0x248)
    start = (setup_sects + 1) * 512 + offset
    payload = image[start:start + length]
    if payload.startswith(b"\x28\xb5\x2f\xfd"):
        import zstandard

        return zstandard.ZstdDecompressor().decompressobj().decompress(payload)
    if payload.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMADecompressor().decompress(payload)
    if payload.startswith(b"\x1f\x8b"):
        return zlib.decompressobj(31).decompress(payload)
    if payload.startswith(b"\x02\x21\x4c\x18"):  # LZ4 legacy frame: Debian's lz4 tool reads it
        return subprocess.run(["lz4", "-dc"], input=payload, capture_output=True).stdout
    raise RuntimeError(f"unknown bzImage payload compression {payload[:4].hex()}")


def orc_types_h(version: str) -> Path:
    """arch/x86/include/asm/orc_types.h of the same kernel, from its linux-headers-*-common package."""
    root = CACHE / version
    path = root / "orc_types.h"
    if path.is_file():
        return path
    kernel_modules(version)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.is_file():
            _unpack_header(version, path)
    return path


def _unpack_header(version: str, path: Path) -> None:
    root = CACHE / version
    abi = (root / "PACKAGE").read_text().strip().removeprefix("linux-image-").split("-cloud")[0]
    package = f"linux-headers-{abi}-common"
    subprocess.run(["apt-get", "download", "-q", package], cwd=root, check=True, capture_output=True)
    deb = next(root.glob(f"{package}_*.deb"))
    tar = subprocess.run(f"dpkg-deb --fsys-tarfile {deb} | tar -xO --wildcards '*/arch/x86/include/asm/orc_types.h'",
                         shell=True, check=True, capture_output=True)
    path.write_bytes(tar.stdout)
    deb.unlink()


def user_objects(version: str, outdir: Path) -> dict[str, Path]:
    """orc_user.c compiled with gcc -O2, given ORC by objtool `version`, and linked: {"o": ..., "exe": ...}."""
    tool = objtool(version)
    if tool is None:
        raise RuntimeError(f"objtool {version} is not installed (Debian linux-kbuild-{version})")
    outdir.mkdir(parents=True, exist_ok=True)
    obj, exe = outdir / f"orc_user-{version}.o", outdir / f"orc_user-{version}"
    subprocess.run(["gcc", "-O2", "-g", "-c", str(HERE / "orc_user.c"), "-o", str(obj)], check=True)
    subprocess.run([tool, "--orc", str(obj)], check=True, capture_output=True)
    subprocess.run(["gcc", str(obj), "-o", str(exe)], check=True)
    return {"o": obj, "exe": exe}


USER_FUNCTIONS = ("leaf", "with_buffer", "with_alloca", "realigned", "recurse", "main")


def gdb_stops(exe: Path, out: Path, functions=USER_FUNCTIONS, args=("2",)) -> list[dict]:
    """gdb_capture.py run on `exe`: one record (registers, stack, gdb backtrace) per instruction of `functions`."""
    spans = []
    for line in subprocess.run(["nm", "-S", str(exe)], capture_output=True, text=True, check=True).stdout.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[3] in functions and parts[2] in "tT":
            spans.append(f"{parts[0]}:{parts[1]}")
    env = dict(os.environ, ORC_CAPTURE_OUT=str(out), ORC_CAPTURE_FUNCS=",".join(spans))
    subprocess.run(["gdb", "-nx", "-batch", "-x", str(HERE / "gdb_capture.py"), "--args", str(exe), *args],
                   env=env, check=True, capture_output=True)
    import json

    return [json.loads(line) for line in out.read_text().splitlines()]


if __name__ == "__main__":
    if sys.argv[1:] != ["fetch"]:
        sys.exit("usage: fixtures.py fetch")
    for v in KERNELS:
        for p in kernel_modules(v):
            print(p)
        print(vmlinux(v))
        print(orc_types_h(v))
