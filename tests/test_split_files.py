"""OLTR split files: paths, labels and class names as written."""

import os

import numpy as np
import pytest

from imagenet_lt_tree import write_tree
from keras_lt.data.split_files import find_split_file
from keras_lt.data.split_files import read_split_file
from keras_lt.errors import DataError


def test_read_split_file(tmp_path):
    listed = write_tree(tmp_path)
    paths, labels, names = read_split_file(tmp_path / "ImageNet_LT_train.txt", str(tmp_path))
    assert paths == [os.path.join(tmp_path, p) for p, _ in listed["train"]]
    np.testing.assert_array_equal(labels, [label for _, label in listed["train"]])
    assert labels.dtype == np.int64 and names == ["n00", "n01", "n02"]


def test_split_file_in_the_benchmark_folder_and_inat_names(tmp_path):
    os.makedirs(tmp_path / "iNaturalist18")
    (tmp_path / "iNaturalist18" / "iNaturalist18_val.txt").write_text(
        "train_val2018/Plantae/7477/a.jpg 1\n\ntrain_val2018/Aves/12/b.jpg 0\n"
    )
    path = find_split_file("inat2018", "test", str(tmp_path))  # iNaturalist's validation split is the test
    assert path == os.path.join(tmp_path, "iNaturalist18", "iNaturalist18_val.txt")
    paths, labels, names = read_split_file(path, str(tmp_path))
    assert names == ["12", "7477"] and labels.tolist() == [1, 0]


@pytest.mark.parametrize("line", ["train/a.jpg", "train/a.jpg x", "train/a.jpg -1", "a b 3"])
def test_malformed_lines_are_one_line_errors(tmp_path, line):
    (tmp_path / "ImageNet_LT_train.txt").write_text(f"train/ok.jpg 0\n{line}\n")
    with pytest.raises(DataError, match=r"ImageNet_LT_train.txt:2: expected"):
        read_split_file(tmp_path / "ImageNet_LT_train.txt", str(tmp_path))


def test_missing_split_file(tmp_path):
    with pytest.raises(DataError, match="no Places_LT_train.txt in"):
        find_split_file("places_lt", "train", str(tmp_path))
