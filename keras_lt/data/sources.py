"""`load_dataset`: one entry point over the data sources, with decoded arrays cached on disk."""

import hashlib
import os
import sys
import zipfile

import numpy as np

from keras_lt.data.cifar_archive import find_cifar_archive
from keras_lt.data.cifar_archive import load_cifar_archive
from keras_lt.data.image_folder import DECODING
from keras_lt.data.image_folder import RESIZING
from keras_lt.data.image_folder import list_image_folder
from keras_lt.data.image_folder import load_image_folder
from keras_lt.data.tfds_source import TFDS_NAMES
from keras_lt.data.tfds_source import load_tfds
from keras_lt.errors import DataError
from keras_lt.files import atomic_write


def cache_dir():
    """The keras-lt cache directory: `$KERAS_LT_CACHE` or `~/.cache/keras-lt`."""
    return os.path.expanduser(os.environ.get("KERAS_LT_CACHE", "~/.cache/keras-lt"))


def _cached(key, loader):
    """Returns `loader()`'s `(images, labels, class_names)`, memoised in an `.npz` under the cache.

    A damaged cache file (cut short, overwritten, not an `.npz`) is rebuilt, with a line on stderr.
    """
    digest = hashlib.sha1(repr(key).encode()).hexdigest()[:16]
    path = os.path.join(cache_dir(), "arrays", f"{digest}.npz")
    if os.path.exists(path):
        try:
            with np.load(path) as arrays:
                return arrays["images"], arrays["labels"], [str(n) for n in arrays["class_names"]]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
            print(f"rebuilding the damaged array cache {path} ({error})", file=sys.stderr)
    images, labels, class_names = loader()
    # Concurrent runs never see a partial file.
    atomic_write(path, lambda f: np.savez(f, images=images, labels=labels, class_names=np.asarray(class_names)))
    return images, labels, class_names


def source_of(name, split, data_dir=None):
    """Where `load_dataset(name, split, data_dir)` reads the split, by the same rules, without reading it.

    Returns:
        "archive" (a CIFAR archive in `data_dir`), "folder" (the image folder `<data_dir>/<split>/`),
        "tfds" (tensorflow-datasets) or None (nowhere: `load_dataset` says so).

    Example:
    >>> source_of("cifar10", "train", "~/.cache/keras-lt/cifar10-jpeg-q75")
    'folder'
    """
    return _locate(name, split, data_dir)[0]


def _locate(name, split, data_dir):
    """`(source_of(name, split, data_dir), the CIFAR archive's path or None)`, from one look at `data_dir`."""
    data_dir = os.path.abspath(os.path.expanduser(data_dir)) if data_dir else None
    archive = find_cifar_archive(name, data_dir)
    if archive is not None:
        return "archive", archive
    if data_dir is not None and os.path.isdir(os.path.join(data_dir, split)):
        return "folder", None
    return ("tfds" if name in TFDS_NAMES else None), None


def _folder_fingerprint(data_dir, split):
    """A digest of every image's path, size and modification time under `<data_dir>/<split>`."""
    paths, _, _ = list_image_folder(data_dir, split)
    digest = hashlib.sha1()
    for path in paths:
        stat = os.stat(path)
        digest.update(os.fsencode(path) + f"\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())  # any file name's bytes
    return digest.hexdigest()


def load_dataset(name, split, data_dir=None, image_size=None):
    """Loads a whole split as `(images uint8 NHWC, labels int64, class_names)`.

    The source is chosen from what `data_dir` holds: the official CIFAR python archive
    (`cifar-10-batches-py/`, `cifar-100-python/` or their `.tar.gz`), else an image folder
    (`<split>/<class>/<images>`); else cifar10 / cifar100 come from tensorflow-datasets, with
    `data_dir` as its data directory.
    Decoded arrays are cached under `cache_dir()`, keyed by source, split and file modification
    time (for an image folder: every image's path, size and time), so a second load is a single
    `np.load` plus, for a folder, a listing.

    Args:
        name: dataset name ("cifar10", "cifar100", or "folder" for your own image folder).
        split: "train" or "test".
        data_dir: directory holding the data.
        image_size: `(h, w)` to resize image-folder images to; None keeps their size.

    Returns:
        `(images, labels, class_names)` in the dataset's original order.

    Example:
    >>> images, labels, names = load_dataset("cifar10", "test", "~/.cache/keras-lt/cifar10-jpeg-q75")
    """
    data_dir = os.path.abspath(os.path.expanduser(data_dir)) if data_dir else None
    source, archive = _locate(name, split, data_dir)
    if source == "archive":
        key = ("cifar_archive", archive, os.path.getmtime(archive), split)
        return _cached(key, lambda: load_cifar_archive(name, split, data_dir))
    if source == "folder":
        resizing = () if image_size is None else (RESIZING,)  # unsized keys stay those of earlier versions
        key = ("folder", data_dir, split, _folder_fingerprint(data_dir, split), image_size, DECODING, *resizing)
        return _cached(key, lambda: load_image_folder(data_dir, split, image_size))
    if source == "tfds":
        return _cached(("tfds", name, split, data_dir), lambda: load_tfds(name, split, data_dir))
    raise DataError(
        f"cannot find {name} '{split}' data {f'in {data_dir}' if data_dir else 'without a data directory'}; "
        f"pass --data-dir with an image folder ({split}/<class>/<images>)."
    )
