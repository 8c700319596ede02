"""`atomic_write`: the whole file or the old one, never a part, and no temporary left behind."""

import os

import pytest

from keras_lt.files import atomic_write


def test_writes_the_file_creating_its_directory(tmp_path):
    path = tmp_path / "new" / "dir" / "data.bin"
    atomic_write(str(path), lambda f: f.write(b"abc"))
    assert path.read_bytes() == b"abc"
    assert os.listdir(path.parent) == ["data.bin"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(b"old")

    def broken(f):
        f.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(str(path), broken)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["data.bin"]


def test_replaces_an_existing_file(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(b"old")
    atomic_write(str(path), lambda f: f.write(b"new"))
    assert path.read_bytes() == b"new"
