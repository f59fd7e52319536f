"""`unwind dump-orc` line for line against `objtool --dump=orc` (Debian linux-kbuild 6.1 and 6.12)."""

from __future__ import annotations

import json
import shutil
import struct

import pytest

from conftest import run_tool, orc_fixtures
from formats.elf import ElfFile
from unwind.cli import main



fx = orc_fixtures()


def objtool_dump(version: str, path) -> str:
    tool = fx.objtool(version)
    if tool is None:
        pytest.fail(f"objtool {version} is not installed (run bash .ci/setup)")
    return run_tool(tool, "--dump=orc", str(path))


def dump(capsys, *argv) -> tuple[int, str, str]:
    code = main(["dump-orc", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def user(tmp_path_factory):
    out = tmp_path_factory.mktemp("orc-user-cli")
    return {v: fx.user_objects(v, out) for v in ("6.1", "6.12")}


@pytest.mark.parametrize("version,index", [("6.1", 0), ("6.1", 1), ("6.1", 2), ("6.12", 0), ("6.12", 1)])
def test_kernel_modules(capsys, version, index):
    path = fx.kernel_modules(version)[index]
    expected = objtool_dump(version, path)
    assert expected.count("\n") > 100
    assert dump(capsys, path) == (0, expected, "")


@pytest.mark.parametrize("version", ["6.1", "6.12"])
@pytest.mark.parametrize("kind", ["o", "exe"])
def test_user_objects(capsys, user, version, kind):
    path = user[version][kind]
    expected = objtool_dump(version, path)
    assert dump(capsys, path) == (0, expected, "")
    other = "6.12" if version == "6.1" else "6.1"
    assert dump(capsys, path, "--orc-version", other) == (0, objtool_dump(other, path), "")


def test_json(capsys, user):
    path = user["6.12"]["exe"]
    expected = objtool_dump("6.12", path).splitlines()
    code, out, _ = dump(capsys, path, "--format", "json")
    doc = json.loads(out)
    assert code == 0
    assert (doc["layout"], doc["layout_source"], doc["relocatable"]) == (">=6.4", "guess", False)
    assert [e["text"] for e in doc["entries"]] == expected
    first = doc["entries"][0]
    assert int(first["address"], 16) == int(expected[0].split(":")[0], 16)
    assert {e["type"] for e in doc["entries"]} <= {"call", "undefined", "end_of_stack", "regs", "regs_partial"}


def test_file_without_orc_prints_nothing(capsys):
    assert objtool_dump("6.12", "/bin/true") == ""
    assert dump(capsys, "/bin/true") == (0, "", "")


def test_not_elf(capsys, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello\n")
    code, out, err = dump(capsys, path)
    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and str(path) in err and "not an ELF file" in err


def test_truncated_table(capsys, tmp_path, user):
    path = tmp_path / "bad.o"
    shutil.copy(user["6.1"]["o"], path)
    section = ElfFile(path).section(".orc_unwind")
    data = bytearray(path.read_bytes())
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    struct.pack_into("<Q", data, shoff + section.index * 64 + 32, section.size - 2)
    path.write_bytes(data)
    code, out, err = dump(capsys, path)
    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and f"{path}+0x" in err and "not a multiple of 6" in err


def test_bad_version(capsys, user):
    code, out, err = dump(capsys, user["6.1"]["o"], "--orc-version", "newest")
    assert (code, out) == (1, "")
    assert "not a kernel version" in err


@pytest.mark.parametrize("suffix", [".xz", ".zst", ".gz"])
def test_compressed_modules(capsys, tmp_path, suffix):
    """Distributions ship .ko.xz/.ko.zst/.ko.gz: dumped as objtool dumps the decompressed module."""
    import gzip
    import lzma

    import zstandard

    module = fx.kernel_modules("6.12")[0]
    raw = module.read_bytes()
    packed = {".xz": lzma.compress, ".gz": gzip.compress, ".zst": zstandard.ZstdCompressor().compress}[suffix](raw)
    path = tmp_path / f"{module.name}{suffix}"
    path.write_bytes(packed)
    assert dump(capsys, path) == (0, objtool_dump("6.12", module), "")
    path.write_bytes(packed[:len(packed) // 2])
    code, out, err = dump(capsys, path)
    assert (code, out) == (1, "") and err.count("\n") == 1 and str(path) in err
