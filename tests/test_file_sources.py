"""Tests of keras_lt.data.file_sources: `load_image_files` over split files and image folders, and its errors."""

import os

import numpy as np
import pytest

from imagenet_lt_tree import write_tree
from keras_lt.data import load_image_files
from keras_lt.data.image_files import WORKERS_ENV
from keras_lt.errors import DataError


def test_load_image_files_from_split_files_and_folders(tmp_path):
    write_tree(tmp_path)
    files, labels, names = load_image_files("imagenet_lt", "test", str(tmp_path), image_size=32, workers=0)
    assert files.shape == (6, 32, 32, 3) and names == ["n00", "n01", "n02"] and files.workers == 0
    assert labels.tolist() == [0, 0, 1, 1, 2, 2]
    subset = files[np.array([1, 4])]
    assert list(subset.paths) == [files.paths[1], files.paths[4]] and subset.image_size == 32
    folder, folder_labels, folder_names = load_image_files("folder", "val", str(tmp_path), image_size=32)
    assert folder_names == names
    # the same images (in path order) with the same labels, the folders' names read as the split files' labels
    assert sorted(zip(folder.paths, folder_labels.tolist())) == sorted(zip(files.paths, labels.tolist()))
    with pytest.raises(DataError, match="pass --data-dir"):
        load_image_files("imagenet_lt", "train", None)


def test_paths_and_labels_are_the_split_files_lines(tmp_path, monkeypatch):
    listed = write_tree(tmp_path / "data")
    monkeypatch.setenv(WORKERS_ENV, "3")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    for data_dir in ("data", "~/data"):  # relative and home-relative roots become absolute paths
        files, labels, _ = load_image_files("imagenet_lt", "train", data_dir)
        assert list(files.paths) == [os.path.join(tmp_path, "data", path) for path, _ in listed["train"]]
        np.testing.assert_array_equal(labels, [label for _, label in listed["train"]])
        assert labels.dtype == np.int64
        assert files.image_size == 224 and files.workers == 3  # the defaults: ImageNet crops, KERAS_LT_WORKERS


def test_errors_are_one_line(tmp_path):
    with pytest.raises(DataError) as missing:
        load_image_files("places_lt", "train", None)
    assert str(missing.value) == "places_lt streams its images from disk: pass --data-dir."
    with pytest.raises(DataError) as unknown:
        load_image_files("cifar10", "train", str(tmp_path))
    assert str(unknown.value) == (
        "cifar10 is not an on-disk dataset; choose one of imagenet_lt, places_lt, inat2018 or folder."
    )
