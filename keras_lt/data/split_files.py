"""The OLTR / classifier-balancing split files: one `relative/path.jpg label` per line."""

import os

import numpy as np

from keras_lt.errors import DataError

# The split files of the standard long-tailed benchmarks (Liu et al.'s OLTR; Kang et al.'s
# classifier-balancing). iNaturalist 2018 has no labelled test set: its validation split is the test.
SPLIT_FILES = {
    "imagenet_lt": {"train": "ImageNet_LT_train.txt", "val": "ImageNet_LT_val.txt", "test": "ImageNet_LT_test.txt"},
    "places_lt": {"train": "Places_LT_train.txt", "val": "Places_LT_val.txt", "test": "Places_LT_test.txt"},
    "inat2018": {"train": "iNaturalist18_train.txt", "val": "iNaturalist18_val.txt", "test": "iNaturalist18_val.txt"},
}
FOLDERS = {"imagenet_lt": "ImageNet_LT", "places_lt": "Places_LT", "inat2018": "iNaturalist18"}


def find_split_file(dataset, split, data_dir):
    """The path of `dataset`'s `split` file: in `data_dir` or its `ImageNet_LT/`-style folder.

    Args:
        dataset: a key of `SPLIT_FILES`.
        split: "train", "val" or "test".
        data_dir: the image root the file's paths are relative to.

    Returns:
        The path of the split file.

    Example:
    >>> find_split_file("imagenet_lt", "train", "/data/imagenet")
    '/data/imagenet/ImageNet_LT_train.txt'
    """
    name = SPLIT_FILES[dataset][split]
    candidates = [os.path.join(data_dir, name), os.path.join(data_dir, FOLDERS[dataset], name)]
    for path in candidates:
        if os.path.isfile(path):
            return path
    raise DataError(f"no {name} in {data_dir} or {candidates[1]}; put the {dataset} split files in --data-dir.")


def read_split_file(path, root):
    """`(paths, labels, class_names)` of a split file, the paths joined to `root`.

    Lines are `relative/path label` (blank lines skipped; the path may not contain spaces, as in
    every published split file). Class `c`'s name is the folder of its first image
    (`train/n01440764/...` -> "n01440764"; `.../Plantae/7477/x.jpg` -> "7477"), or `c` itself when
    its images have no folder.

    Args:
        path: the split file.
        root: the directory its paths are relative to.

    Returns:
        Paths (list of str), labels (int64 array) and class names (one per label up to the largest).

    Example:
    >>> paths, labels, names = read_split_file("ImageNet_LT_train.txt", "/data/imagenet")
    """
    paths, labels = [], []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2 or not fields[1].lstrip("-").isdigit() or int(fields[1]) < 0:
                raise DataError(f"{path}:{number}: expected 'relative/path label', got {line.strip()!r}.")
            paths.append(os.path.join(root, fields[0].lstrip("/")))
            labels.append(int(fields[1]))
    if not labels:
        raise DataError(f"{path} lists no images.")
    labels = np.asarray(labels, dtype=np.int64)
    names = [str(c) for c in range(int(labels.max()) + 1)]
    for image, label in zip(reversed(paths), reversed(labels.tolist())):  # the first image wins
        folder = os.path.basename(os.path.dirname(image))
        if folder and os.path.dirname(image) != root.rstrip("/"):
            names[label] = folder
    return paths, labels, names
