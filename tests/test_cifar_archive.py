"""The official CIFAR python archive reader, on tiny archives written in the exact pickle layout."""

import os
import pickle
import tarfile

import numpy as np
import pytest

from keras_lt.data import load_dataset
from keras_lt.data.cifar_archive import find_cifar_archive
from keras_lt.data.cifar_archive import load_cifar_archive
from keras_lt.errors import DataError

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR100_NAMES = [f"fine_{i:02d}" for i in range(100)]
# name -> (folder, tarball, {split: [(member, images in it)]}, meta member, meta dict, labels key)
LAYOUTS = {
    "cifar10": (
        "cifar-10-batches-py",
        "cifar-10-python.tar.gz",
        {"train": [(f"data_batch_{i}", n) for i, n in zip(range(1, 6), (3, 2, 4, 1, 2))],
         "test": [("test_batch", 3)]},
        "batches.meta",
        {b"num_cases_per_batch": 10000, b"label_names": [n.encode() for n in CIFAR10_NAMES],
         b"num_vis": 3072},
        b"labels",
    ),
    "cifar100": (
        "cifar-100-python",
        "cifar-100-python.tar.gz",
        {"train": [("train", 7)], "test": [("test", 4)]},
        "meta",
        {b"fine_label_names": [n.encode() for n in CIFAR100_NAMES],
         b"coarse_label_names": [f"coarse_{i}".encode() for i in range(20)]},
        b"fine_labels",
    ),
}


def _reference_nhwc(rows):
    """NHWC images from channel-planar rows, pixel by pixel: row[c * 1024 + y * 32 + x]."""
    images = np.zeros((len(rows), 32, 32, 3), dtype=np.uint8)
    for n, row in enumerate(rows):
        for y in range(32):
            for x in range(32):
                for c in range(3):
                    images[n, y, x, c] = row[c * 1024 + y * 32 + x]
    return images


def write_archive(root, name, seed=0):
    """Writes `<root>/<folder>/` in the official layout; returns {split: (rows, labels)}."""
    folder, _, batches, meta, meta_dict, labels_key = LAYOUTS[name]
    rng = np.random.RandomState(seed)
    num_classes = len(CIFAR10_NAMES if name == "cifar10" else CIFAR100_NAMES)
    os.makedirs(os.path.join(root, folder))
    expected = {}
    for split, members in batches.items():
        rows, labels = [], []
        for member, count in members:
            data = rng.randint(0, 256, size=(count, 3072)).astype(np.uint8)
            batch_labels = rng.randint(0, num_classes, size=count).tolist()
            content = {b"batch_label": member.encode(), labels_key: batch_labels, b"data": data,
                       b"filenames": [f"img_{i}.png".encode() for i in range(count)]}
            if name == "cifar100":
                content[b"coarse_labels"] = [label // 5 for label in batch_labels]
            with open(os.path.join(root, folder, member), "wb") as f:
                pickle.dump(content, f, protocol=2)
            rows.append(data)
            labels += batch_labels
        expected[split] = (np.concatenate(rows), np.asarray(labels))
    with open(os.path.join(root, folder, meta), "wb") as f:
        pickle.dump(meta_dict, f, protocol=2)
    return expected


def write_tarball(root, name, seed=0):
    """Writes only `<root>/<tarball>`, members in reverse order plus a readme; returns as above."""
    folder, tarball, *_ = LAYOUTS[name]
    staging = os.path.join(root, "staging")
    expected = write_archive(staging, name, seed)
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(staging, folder, "readme.html"), "w") as f:
        f.write("<html></html>")
    with tarfile.open(os.path.join(root, tarball), "w:gz") as tar:
        tar.add(os.path.join(staging, folder), arcname=folder, recursive=False)
        for member in sorted(os.listdir(os.path.join(staging, folder)), reverse=True):
            tar.add(os.path.join(staging, folder, member), arcname=f"{folder}/{member}")
    return expected


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
@pytest.mark.parametrize("writer", [write_archive, write_tarball], ids=["folder", "tar.gz"])
def test_pixels_order_labels_and_names(tmp_path, name, writer):
    expected = writer(str(tmp_path / "data"), name)
    for split, (rows, labels) in expected.items():
        images, got_labels, names = load_cifar_archive(name, split, str(tmp_path / "data"))
        assert images.dtype == np.uint8 and images.shape == (len(rows), 32, 32, 3)
        assert images.flags.c_contiguous
        np.testing.assert_array_equal(images, _reference_nhwc(rows))
        assert got_labels.dtype == np.int64
        np.testing.assert_array_equal(got_labels, labels)
        assert names == (CIFAR10_NAMES if name == "cifar10" else CIFAR100_NAMES)


def test_find_prefers_the_extracted_folder(tmp_path):
    root = str(tmp_path)
    assert find_cifar_archive("cifar10", root) is None
    assert find_cifar_archive("cifar10", None) is None
    write_tarball(root, "cifar10")
    assert find_cifar_archive("cifar10", root) == os.path.join(root, "cifar-10-python.tar.gz")
    write_archive(root, "cifar10")
    assert find_cifar_archive("cifar10", root) == os.path.join(root, "cifar-10-batches-py")
    assert find_cifar_archive("cifar100", root) is None
    assert find_cifar_archive("svhn", root) is None


def test_errors_are_one_line(tmp_path):
    root = str(tmp_path)
    with pytest.raises(DataError, match="cifar-100-python/ or cifar-100-python.tar.gz") as missing:
        load_cifar_archive("cifar100", "train", root)
    write_archive(root, "cifar10")
    with pytest.raises(DataError, match="not 'val'") as bad_split:
        load_cifar_archive("cifar10", "val", root)
    os.remove(os.path.join(root, "cifar-10-batches-py", "batches.meta"))
    with open(os.path.join(root, "cifar-10-batches-py", "batches.meta"), "wb") as f:
        pickle.dump({b"num_vis": 3072}, f, protocol=2)
    with pytest.raises(DataError, match="no label_names entry") as bad_meta:
        load_cifar_archive("cifar10", "test", root)
    for error in (missing, bad_split, bad_meta):
        assert "\n" not in str(error.value)


def test_tarball_missing_a_batch(tmp_path):
    staging = str(tmp_path / "staging")
    write_archive(staging, "cifar10")
    with tarfile.open(str(tmp_path / "cifar-10-python.tar.gz"), "w:gz") as tar:
        member = "cifar-10-batches-py/test_batch"
        tar.add(os.path.join(staging, member), arcname=member)
    with pytest.raises(DataError, match="lacks cifar-10-batches-py/batches.meta"):
        load_cifar_archive("cifar10", "test", str(tmp_path))


def test_load_dataset_dispatches_to_the_archive_and_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_LT_CACHE", str(tmp_path / "cache"))
    expected = write_tarball(str(tmp_path / "data"), "cifar10")
    rows, labels = expected["train"]
    for _ in range(2):  # the second load comes from the array cache
        images, got_labels, names = load_dataset("cifar10", "train", data_dir=str(tmp_path / "data"))
        np.testing.assert_array_equal(images, _reference_nhwc(rows))
        np.testing.assert_array_equal(got_labels, labels)
        assert names == CIFAR10_NAMES
    assert len(os.listdir(tmp_path / "cache" / "arrays")) == 1


class RunsCode:
    """A pickle that calls `os.mkdir(path)` when loaded with a plain `pickle.load`."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return os.mkdir, (self.path,)


@pytest.mark.parametrize("writer", [write_archive, write_tarball], ids=["folder", "tar.gz"])
def test_a_pickle_that_would_run_code_is_refused(tmp_path, writer):
    marker = str(tmp_path / "code-ran")
    staging = str(tmp_path / "staging")
    write_archive(staging, "cifar10")
    member = os.path.join(staging, "cifar-10-batches-py", "test_batch")
    with open(member, "wb") as f:
        pickle.dump({b"data": RunsCode(marker), b"labels": [0]}, f, protocol=2)
    with open(member, "rb") as f:
        pickle.load(f)  # a plain pickle.load runs the code
    assert os.path.isdir(marker)
    os.rmdir(marker)
    root = staging
    if writer is write_tarball:
        root = str(tmp_path / "tar")
        os.makedirs(root)
        with tarfile.open(os.path.join(root, "cifar-10-python.tar.gz"), "w:gz") as tar:
            tar.add(os.path.join(staging, "cifar-10-batches-py"), arcname="cifar-10-batches-py")
    with pytest.raises(DataError, match=r"refers to posix.mkdir.*official CIFAR python archive") as error:
        load_cifar_archive("cifar10", "test", root)
    assert "\n" not in str(error.value)
    assert not os.path.exists(marker)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x80\x02}q", "cannot read"),  # truncated
        ({b"data": [["x"] * 3072], b"labels": [0]}, "no uint8 data"),
        ({b"data": np.zeros((1, 3072), np.uint8), b"labels": [12]}, "labels outside 0..9"),
    ],
)
def test_a_malformed_batch_is_one_line(tmp_path, content, message):
    write_archive(str(tmp_path), "cifar10")
    with open(os.path.join(tmp_path, "cifar-10-batches-py", "test_batch"), "wb") as f:
        f.write(content if isinstance(content, bytes) else pickle.dumps(content, protocol=2))
    with pytest.raises(DataError, match=message) as error:
        load_cifar_archive("cifar10", "test", str(tmp_path))
    assert "\n" not in str(error.value)
