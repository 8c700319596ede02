"""`atomic_write`: the whole file or the old one, never a part, and no temporary left behind; `check_writable`."""

import os

import pytest

from keras_lt.errors import KerasLTError
from keras_lt.files import atomic_write
from keras_lt.files import check_writable


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


def test_check_writable_passes_a_folder_to_be_made_and_leaves_nothing(tmp_path):
    (tmp_path / "runs").mkdir()
    check_writable(str(tmp_path / "runs"), "--output")
    check_writable(str(tmp_path / "new" / "runs" / "ce"), "--output")
    assert os.listdir(tmp_path) == ["runs"] and os.listdir(tmp_path / "runs") == []


def test_check_writable_names_the_file_in_the_way(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("not a folder")
    with pytest.raises(KerasLTError) as error:
        check_writable(os.path.join("afile", "x"), "--plot")
    path = os.path.join("afile", "x")
    assert str(error.value) == f"cannot write in {path}: afile is not a folder; choose another --plot."
    assert os.listdir(tmp_path) == ["afile"]
