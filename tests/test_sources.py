"""`load_dataset` over an image folder: dispatch, the array cache and its invalidation, missing data."""

import os

import numpy as np
import pytest
from PIL import Image

from keras_lt.data import load_dataset
from keras_lt.data import sources
from keras_lt.errors import DataError


def write_image(path, value, size=(4, 4)):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.full((*size, 3), value, np.uint8)).save(path)


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_LT_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "data"
    for name, values in {"cat": [10, 20], "ant": [30]}.items():
        for i, value in enumerate(values):
            write_image(str(root / "train" / name / f"{i}.png"), value)
    write_image(str(root / "test" / "ant" / "0.png"), 40)
    return root


def counting_loader(monkeypatch):
    calls = []
    real = sources.load_image_folder

    def load_image_folder(*args):
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(sources, "load_image_folder", load_image_folder)
    return calls


def test_folder_dispatch_and_cache_hit(folder, tmp_path, monkeypatch):
    calls = counting_loader(monkeypatch)
    for _ in range(2):  # "cifar10" too: an image folder wins over tfds
        for name in ("folder", "cifar10"):
            images, labels, names = load_dataset(name, "train", data_dir=str(folder))
            np.testing.assert_array_equal(images[:, 0, 0, 0], [30, 10, 20])
            assert images.dtype == np.uint8 and images.shape == (3, 4, 4, 3)
            assert labels.dtype == np.int64
            np.testing.assert_array_equal(labels, [0, 1, 1])
            assert names == ["ant", "cat"]
    assert len(calls) == 1
    assert len(os.listdir(tmp_path / "cache" / "arrays")) == 1
    images, labels, names = load_dataset("folder", "test", data_dir=str(folder))
    np.testing.assert_array_equal(images[:, 0, 0, 0], [40])
    assert names == ["ant"] and len(calls) == 2


def test_cache_follows_the_images(folder, monkeypatch):
    calls = counting_loader(monkeypatch)
    load_dataset("folder", "train", data_dir=str(folder))
    path = str(folder / "train" / "cat" / "1.png")
    write_image(path, 99)  # same size, same folders: only the file changed
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    images, _, _ = load_dataset("folder", "train", data_dir=str(folder))
    np.testing.assert_array_equal(images[:, 0, 0, 0], [30, 10, 99])
    write_image(str(folder / "train" / "ant" / "1.png"), 50)
    images, labels, _ = load_dataset("folder", "train", data_dir=str(folder))
    np.testing.assert_array_equal(images[:, 0, 0, 0], [30, 50, 10, 99])
    np.testing.assert_array_equal(labels, [0, 0, 1, 1])
    load_dataset("folder", "train", data_dir=str(folder), image_size=(2, 2))
    assert len(calls) == 4


@pytest.mark.parametrize("damage", [b"", b"PK\x03\x04 not a zip", None])
def test_a_damaged_cache_is_rebuilt(folder, tmp_path, monkeypatch, capsys, damage):
    calls = counting_loader(monkeypatch)
    expected = load_dataset("folder", "train", data_dir=str(folder))
    (cache,) = (tmp_path / "cache" / "arrays").iterdir()
    if damage is None:  # a valid .npz without the arrays
        np.savez(cache, other=np.zeros(1))
    else:
        cache.write_bytes(damage)
    for _ in range(2):  # rebuilt once, then read
        for got, want in zip(load_dataset("folder", "train", data_dir=str(folder)), expected):
            np.testing.assert_array_equal(got, want)
    assert len(calls) == 2 and "rebuilding the damaged array cache" in capsys.readouterr().err


def test_missing_data_is_one_line(tmp_path):
    with pytest.raises(DataError, match=r"cannot find folder 'train' data in .*pass --data-dir") as error:
        load_dataset("folder", "train", data_dir=str(tmp_path))
    assert "\n" not in str(error.value)


def test_a_file_name_that_is_not_utf8_loads(folder):
    with open(os.fsencode(folder / "train" / "cat") + b"/caf\xe9.png", "wb") as f:  # a Latin-1 name
        Image.fromarray(np.full((4, 4, 3), 70, np.uint8)).save(f, format="PNG")
    images, labels, names = load_dataset("folder", "train", data_dir=str(folder))
    np.testing.assert_array_equal(images[:, 0, 0, 0], [30, 10, 20, 70])
    np.testing.assert_array_equal(labels, [0, 1, 1, 1])


def test_source_of_says_where_load_dataset_reads_by_its_rules(folder, tmp_path):
    """An archive before an image folder, a folder before tfds, nothing for a folder dataset without one."""
    assert sources.source_of("cifar10", "train", str(folder)) == "folder"
    assert sources.source_of("folder", "train", str(folder)) == "folder"
    assert sources.source_of("cifar10", "train", str(tmp_path / "none")) == "tfds"
    assert sources.source_of("folder", "train", str(tmp_path / "none")) is None
    assert sources.source_of("folder", "train") is None
    os.makedirs(folder / "cifar-10-batches-py")
    assert sources.source_of("cifar10", "train", str(folder)) == "archive"
    assert sources.source_of("folder", "train", str(folder)) == "folder"  # only CIFAR has an archive
