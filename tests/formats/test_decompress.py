"""formats.decompress and ElfFile's compressed sections: real objcopy output, then hostile sizes."""

from __future__ import annotations

import lzma
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
import zstandard
from conftest import need_tool

from formats import decompress
from formats.decompress import Codec, DecompressError, TooLargeError, ZstdStream, inflate
from formats.elf import SHF_COMPRESSED, ElfFile
from formats.errors import FormatError

SOURCE = "#include <stdio.h>\n#define TWICE(x) ((x) * 2)\nint main(void) { printf(\"%d\\n\", TWICE(21)); return 0; }\n"


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> dict[str, Path]:
    """One program (-g3: enough macro info that objcopy compresses), plain and compressed three ways."""
    work = tmp_path_factory.mktemp("decompress")
    (work / "p.c").write_text(SOURCE)
    plain = work / "plain"
    subprocess.run([need_tool("gcc"), "-g3", "-O1", str(work / "p.c"), "-o", str(plain)], check=True)
    out = {"plain": plain}
    for style in ("zlib", "zlib-gnu", "zstd"):
        target = work / style
        subprocess.run([need_tool("objcopy"), f"--compress-debug-sections={style}", str(plain), str(target)],
                       check=True)
        out[style] = target
    return out


@pytest.mark.parametrize("style", ["zlib", "zlib-gnu", "zstd"])
def test_compressed_sections_read_as_objcopy_wrote_them(builds, style):
    plain, packed = ElfFile(builds["plain"]), ElfFile(builds[style])
    compressed = [s for s in packed.sections
                  if s.flags & SHF_COMPRESSED or s.name.startswith(".zdebug")]
    assert compressed, f"objcopy --compress-debug-sections={style} compressed nothing"
    for section in compressed:
        name = ".debug_" + section.name[len(".zdebug_"):] if section.name.startswith(".zdebug") else section.name
        assert packed.section_bytes(section) == plain.section_bytes(name), name


def test_declared_size_is_checked_before_inflating():
    bomb = zlib.compress(bytes(64 << 20), 9)  # 64 KiB that inflate to 64 MiB
    with pytest.raises(TooLargeError):
        inflate(Codec.ZLIB, bomb, 1 << 40)
    with pytest.raises(DecompressError, match="past the 4096 bytes it declares"):
        inflate(Codec.ZLIB, bomb, 4096)
    with pytest.raises(TooLargeError, match="past the limit"):
        inflate(Codec.ZLIB, bomb, None, limit=1 << 20)


@pytest.mark.parametrize("codec,pack", [
    (Codec.ZLIB, zlib.compress),
    (Codec.ZSTD, lambda data: zstandard.ZstdCompressor().compress(data)),
    (Codec.XZ, lzma.compress),
])
def test_each_codec_round_trips_and_rejects_damage(codec, pack):
    data = bytes(range(256)) * 64
    packed = pack(data)
    assert inflate(codec, packed, len(data)) == data
    assert inflate(codec, packed, None) == data
    with pytest.raises(DecompressError):
        inflate(codec, packed[: len(packed) // 2], len(data))
    with pytest.raises(DecompressError):
        inflate(codec, packed, len(data) + 1)
    with pytest.raises(DecompressError):
        inflate(codec, b"\x00garbage" * 8, len(data), path="x.bin", offset=0x40)


def test_zstd_frame_claiming_a_huge_content_size_allocates_nothing():
    frame = zstandard.ZstdCompressor(write_content_size=True).compress(b"abc" * 100)
    # Frame header (RFC 8878 3.1.1.1): magic, descriptor, [window], [dict id], content size.  The
    # descriptor's top two bits give the size field's width; we rewrite it as 8 bytes saying 2^62.
    descriptor = frame[4]
    single_segment = bool(descriptor & 0x20)
    assert descriptor & 0x03 == 0  # no dictionary id
    width = {0: 1 if single_segment else 0, 1: 2, 2: 4, 3: 8}[descriptor >> 6]
    start = 5 + (0 if single_segment else 1)
    huge = frame[:4] + bytes([0xC0 | (descriptor & 0x3F)]) + frame[5:start] + (1 << 62).to_bytes(8, "little") + \
        frame[start + width:]
    with pytest.raises(DecompressError):
        inflate(Codec.ZSTD, huge, 300)
    with pytest.raises(DecompressError):
        inflate(Codec.ZSTD, huge, None)


def test_zstd_stream_caps_each_piece():
    stream = ZstdStream()
    bomb = zstandard.ZstdCompressor().compress(bytes(32 << 20))
    with pytest.raises(TooLargeError):
        stream.feed(bomb, 1 << 20)
    fresh = zstandard.ZstdCompressor().compress(b"after")  # the stream restarts after an error
    assert stream.feed(fresh, 100) == b"after"


def test_elf_budget_rejects_a_section_declaring_more_than_the_file_may(builds, tmp_path):
    packed = ElfFile(builds["zlib"])
    section = next(s for s in packed.sections if s.flags & SHF_COMPRESSED)
    data = bytearray(Path(builds["zlib"]).read_bytes())
    # Elf64_Chdr: ch_type (4), ch_reserved (4), ch_size (8), ch_addralign (8).
    struct.pack_into("<Q", data, section.offset + 8, decompress.budget(len(data)) + 1)
    with pytest.raises(TooLargeError, match="in total") as caught:
        ElfFile(None, data=bytes(data)).section_bytes(section.name)
    assert caught.value.offset == section.offset
    struct.pack_into("<Q", data, section.offset + 8, 1 << 63)
    with pytest.raises(FormatError):
        ElfFile(None, data=bytes(data)).section_bytes(section.name)
