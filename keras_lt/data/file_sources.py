"""Data sets that stay on disk: the standard split files and image folders, as `ImageFiles`."""

import os

from keras_lt.data.image_files import DEFAULT_IMAGE_SIZE
from keras_lt.data.image_files import ImageFiles
from keras_lt.data.image_folder import list_image_folder
from keras_lt.data.split_files import SPLIT_FILES
from keras_lt.data.split_files import find_split_file
from keras_lt.data.split_files import read_split_file
from keras_lt.errors import DataError

SPLIT_FILE_DATASETS = tuple(SPLIT_FILES)


def load_image_files(name, split, data_dir, image_size=DEFAULT_IMAGE_SIZE, workers=None):
    """`(files, labels, class_names)` of a split, with nothing decoded: for the streaming pipeline.

    Args:
        name: "imagenet_lt", "places_lt", "inat2018" (their split files, see
            `keras_lt.data.split_files`; `data_dir` is the image root they are relative to), or
            "folder" (any image folder `<data_dir>/<split>/<class>/<images>`, however large).
        split: "train", "val" or "test".
        data_dir: where the data is.
        image_size: side of the crops the pipeline makes.
        workers: decoding processes (None: `keras_lt.data.image_files.default_workers()`).

    Returns:
        An `ImageFiles`, the int64 labels and the class names.

    Example:
    >>> files, labels, names = load_image_files("imagenet_lt", "train", "/data/imagenet")
    """
    if data_dir is None:
        raise DataError(f"{name} streams its images from disk: pass --data-dir.")
    data_dir = os.path.abspath(os.path.expanduser(data_dir))
    if name in SPLIT_FILES:
        paths, labels, class_names = read_split_file(find_split_file(name, split, data_dir), data_dir)
    elif name == "folder":
        paths, labels, class_names = list_image_folder(data_dir, split)
    else:
        raise DataError(f"{name} is not an on-disk dataset; choose one of {', '.join(SPLIT_FILE_DATASETS)} or folder.")
    return ImageFiles(paths, image_size, workers), labels, class_names
