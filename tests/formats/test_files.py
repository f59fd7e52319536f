"""Input files that cannot be opened: every reader raises FileError (an UnwindError) naming the path,
with the OS's own reason, never a bare FileNotFoundError or IsADirectoryError."""

from __future__ import annotations

import errno
import os

import pytest

from formats.core import CoreFile
from formats.elf import ElfFile
from formats.errors import FileError, UnwindError
from formats.kallsyms import load_kallsyms
from formats.perfdata.reader import PerfDataReader
from unwind.core import load_core
from unwind.perfsession import read_samples

READERS = [ElfFile, CoreFile, PerfDataReader, load_kallsyms, load_core, read_samples]


@pytest.mark.parametrize("reader", READERS, ids=lambda r: r.__name__)
@pytest.mark.parametrize("kind, code", [("missing", errno.ENOENT), ("directory", errno.EISDIR)])
def test_unopenable_inputs_are_file_errors(tmp_path, reader, kind, code):
    path = tmp_path / "input"
    if kind == "directory":
        path.mkdir()
    with pytest.raises(FileError) as caught:
        reader(str(path))
    exc = caught.value
    assert isinstance(exc, UnwindError) and exc.path == str(path) and exc.errno == code
    assert exc.strerror == os.strerror(code) and str(path) in str(exc)
    assert isinstance(exc.__cause__, OSError)


def test_an_empty_file_is_a_format_error_not_a_file_error(tmp_path):
    path = tmp_path / "empty"
    path.write_bytes(b"")
    for reader in (ElfFile, PerfDataReader):
        with pytest.raises(UnwindError) as caught:
            reader(str(path))
        assert not isinstance(caught.value, FileError)
