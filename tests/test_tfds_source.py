"""The tfds source under `tfds.testing.mock_data`, and its one-line errors; no TensorFlow, no network.

The mock runs with `MockPolicy.USE_FILES` on a metadata-only prepared directory (`dataset_info.json`
and `features.json`, which tfds writes without TensorFlow), so the builder is "prepared", its label
names are the ones a real preparation records, and `as_data_source_fn` serves shuffled examples
whose ids say where each belongs.
"""

import os
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds

from keras_lt.data import load_dataset
from keras_lt.data import tfds_source
from keras_lt.data.tfds_source import load_tfds
from keras_lt.errors import DataError

NUM_EXAMPLES = 11


def write_metadata(data_dir, name, class_names, file_format="array_record"):
    """What a real preparation leaves besides the records: the dataset info with its label names."""
    builder = tfds.builder(name, data_dir=data_dir, file_format=file_format)
    builder.info.features["label"].names = class_names
    os.makedirs(builder.data_path)
    builder.info.write_to_directory(builder.data_path)


class ShuffledSource:
    """A data source like tfds' ArrayRecord one: examples shuffled, each with its original `id`."""

    def __init__(self, split, num_classes):
        self.positions = np.random.RandomState(1).permutation(NUM_EXAMPLES)
        self.split = split
        self.num_classes = num_classes

    def __len__(self):
        return NUM_EXAMPLES

    def __getitems__(self, keys):
        return [self._example(self.positions[k]) for k in keys]

    def _example(self, position):
        image = np.full((32, 32, 3), position, dtype=np.uint8)
        image[0, 0] = (1, 2, 3)
        # ArrayRecord yields Text as bytes, the tfds mock generator as str: serve one of each.
        tfds_id = f"{self.split}_{position:05d}"
        return {"id": tfds_id.encode() if position % 2 else tfds_id, "image": image,
                "label": np.int64((7 * position) % self.num_classes)}


@pytest.fixture
def mocked_tfds(tmp_path, monkeypatch):
    """Mocks tfds for cifar10 and cifar100; returns the metadata data dir and the label names."""
    names = {"cifar10": [f"c10_{i}" for i in range(10)], "cifar100": [f"c100_{i}" for i in range(100)]}
    for name, class_names in names.items():
        write_metadata(str(tmp_path), name, class_names)
    monkeypatch.setattr(tfds_source, "_READ_CHUNK", 4)  # several batched reads of 11 examples

    def as_data_source(builder, split, **kwargs):
        return ShuffledSource(split, len(names[builder.name]))

    with tfds.testing.mock_data(
        policy=tfds.testing.MockPolicy.USE_FILES, data_dir=str(tmp_path), as_data_source_fn=as_data_source
    ):
        yield str(tmp_path), names


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_ids_restore_the_original_order(mocked_tfds, name, split):
    data_dir, names = mocked_tfds
    images, labels, class_names = load_tfds(name, split, data_dir=data_dir)
    positions = np.arange(NUM_EXAMPLES)
    assert images.dtype == np.uint8 and images.shape == (NUM_EXAMPLES, 32, 32, 3)
    np.testing.assert_array_equal(images[:, 5, 5, 0], positions)
    np.testing.assert_array_equal(images[:, 0, 0], np.tile([1, 2, 3], (NUM_EXAMPLES, 1)))
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, (7 * positions) % len(names[name]))
    assert class_names == names[name]


def test_load_dataset_falls_back_to_tfds(mocked_tfds, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_LT_CACHE", str(tmp_path / "cache"))
    data_dir, names = mocked_tfds
    images, labels, class_names = load_dataset("cifar10", "test", data_dir=data_dir)
    np.testing.assert_array_equal(images[:, 5, 5, 0], np.arange(NUM_EXAMPLES))
    np.testing.assert_array_equal(labels, (7 * np.arange(NUM_EXAMPLES)) % 10)
    assert class_names == names["cifar10"]


@pytest.fixture
def no_preparation(monkeypatch):
    """Fails the test if tfds starts a download."""
    def download_and_prepare(self, *args, **kwargs):
        raise AssertionError("download_and_prepare must not run")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", download_and_prepare)


def test_missing_tensorflow_is_one_line(tmp_path, monkeypatch, no_preparation):
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # find_spec("tensorflow") is None
    with pytest.raises(DataError, match=r"needs TensorFlow.*pip install 'keras-lt\[tfds\]'") as error:
        load_tfds("cifar100", "train", data_dir=str(tmp_path))
    assert "\n" not in str(error.value) and "--data-dir" in str(error.value)


def test_no_download_is_one_line(tmp_path, no_preparation, caplog):
    with pytest.raises(DataError, match="tfds has no prepared cifar10") as error:
        load_tfds("cifar10", "train", data_dir=str(tmp_path / "absent"), download=False)
    assert "\n" not in str(error.value)
    assert "dataset_info.json" not in caplog.text  # tfds' warning on the way is not shown


def test_failed_download_is_one_line(tmp_path, monkeypatch):
    def download_and_prepare(self, *args, **kwargs):
        raise ConnectionError("Name or service not known\nsecond line")

    monkeypatch.setattr(tfds_source, "find_spec", lambda module: object())  # as if TF were there
    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", download_and_prepare)
    with pytest.raises(DataError, match=r"could not download .*ConnectionError: Name or service") as error:
        load_tfds("cifar10", "train", data_dir=str(tmp_path))
    assert "\n" not in str(error.value)


def test_unreadable_preparation_is_one_line(tmp_path):
    write_metadata(str(tmp_path), "cifar10", [f"c{i}" for i in range(10)], file_format="tfrecord")
    with pytest.raises(DataError, match="tfds cannot read cifar10 'train'") as error:
        load_tfds("cifar10", "train", data_dir=str(tmp_path))
    assert "\n" not in str(error.value)


def test_unknown_name():
    with pytest.raises(DataError, match="not 'svhn'"):
        load_tfds("svhn", "train")
