"""CIFAR-10 / CIFAR-100 through tensorflow-datasets, read without TensorFlow once prepared."""

import logging
import os
from importlib.util import find_spec

import numpy as np

from keras_lt.errors import DataError

TFDS_NAMES = ("cifar10", "cifar100")
_READ_CHUNK = 4096
_DATA_DIR_HINT = (
    "or pass --data-dir with the CIFAR python archive (cifar-10-batches-py/, cifar-100-python/ "
    "or their .tar.gz) or an image folder (<split>/<class>/<images>)"
)


def _id_number(tfds_id):
    """The original position in a tfds CIFAR id: b"train_00042" or "test_00042" -> 42."""
    text = tfds_id.decode() if isinstance(tfds_id, bytes) else str(tfds_id)
    return int(text.rsplit("_", 1)[-1])


def _prepared_builder(name, data_dir, download):
    """The tfds builder of `name`, prepared (as ArrayRecord when this prepares it), or a DataError."""
    import tensorflow_datasets as tfds

    absl = logging.getLogger("absl")
    level = absl.level
    absl.setLevel(logging.ERROR)  # not tfds' "Variant folder ... has no dataset_info.json" before our one line
    try:
        builder = tfds.builder(name, data_dir=data_dir)
        prepared = builder.is_prepared()
    finally:
        absl.setLevel(level)
    if prepared:
        return builder
    where = builder.data_dir
    if not download:
        raise DataError(f"tfds has no prepared {name} in {where}; allow the download, {_DATA_DIR_HINT}.")
    if find_spec("tensorflow") is None:
        raise DataError(
            f"tfds has no prepared {name} in {where} and needs TensorFlow to download and prepare it: "
            f"pip install 'keras-lt[tfds]', {_DATA_DIR_HINT}."
        )
    try:
        # ArrayRecord is the random-access format `as_data_source` reads; tfds' default is TFRecord.
        builder.download_and_prepare(file_format="array_record")
    except Exception as error:  # network, checksum, disk: all mean the same thing to the user
        reason = f"{type(error).__name__}: {error}".splitlines()[0]
        raise DataError(
            f"tfds could not download and prepare {name} into {where} ({reason}); check the "
            f"network, {_DATA_DIR_HINT}."
        ) from error
    return builder


def load_tfds(name, split, data_dir=None, download=True):
    """Reads a CIFAR split from tensorflow-datasets, restored to the original CIFAR order.

    tfds stores CIFAR shuffled; each example's `id` ("train_00042") gives its position in the
    original batches, so sorting by it restores the order the LDAM long-tail selection is defined
    on. Records are read in batches from the ArrayRecord data source, which needs no TensorFlow;
    downloading and preparing the data the first time does (`pip install 'keras-lt[tfds]'`).

    Args:
        name: "cifar10" or "cifar100" (fine labels).
        split: "train" or "test".
        data_dir: the tfds data directory; None is tfds' default (`~/tensorflow_datasets`).
        download: download and prepare the data if it is not prepared yet.

    Returns:
        `(images, labels, class_names)`: uint8 `(N, 32, 32, 3)`, int64 `(N,)`, list of str.

    Raises:
        DataError: an unknown name, or data that is not prepared and cannot be prepared here.

    Example:
    >>> images, labels, names = load_tfds("cifar100", "train")  # doctest: +SKIP
    >>> images.shape, len(names)  # doctest: +SKIP
    ((50000, 32, 32, 3), 100)
    """
    if name not in TFDS_NAMES:
        raise DataError(f"tfds loading covers {', '.join(TFDS_NAMES)}, not '{name}'.")
    builder = _prepared_builder(name, os.path.expanduser(data_dir) if data_dir else None, download)
    try:
        source = builder.as_data_source(split=split)
    except (KeyError, ValueError, NotImplementedError) as error:
        reason = str(error).splitlines()[0]
        raise DataError(
            f"tfds cannot read {name} '{split}' from {builder.data_dir} ({reason}); prepare it with "
            f"file_format='array_record' in another data dir, {_DATA_DIR_HINT}."
        ) from error
    count = len(source)
    images = np.empty((count, 32, 32, 3), dtype=np.uint8)
    labels = np.empty(count, dtype=np.int64)
    order = np.empty(count, dtype=np.int64)
    for start in range(0, count, _READ_CHUNK):
        stop = min(start + _READ_CHUNK, count)
        for i, example in enumerate(source.__getitems__(list(range(start, stop))), start):
            images[i] = example["image"]
            labels[i] = example["label"]
            order[i] = _id_number(example["id"])
    original = np.argsort(order)
    if not np.array_equal(order[original], np.arange(count)):
        raise DataError(f"tfds {name} '{split}' ids in {builder.data_dir} are not 0..{count - 1}.")
    return images[original], labels[original], list(builder.info.features["label"].names)
