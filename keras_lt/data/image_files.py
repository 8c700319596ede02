"""A data set as image files on disk, decoded only when a batch needs them."""

import os

import numpy as np

DEFAULT_IMAGE_SIZE = 224
WORKERS_ENV = "KERAS_LT_WORKERS"


def default_workers():
    """Decoding processes per training process: `KERAS_LT_WORKERS`, else the cores (at most 8)."""
    return int(os.environ.get(WORKERS_ENV, min(8, os.cpu_count() or 1)))


class ImageFiles:
    """Paths of images that the streaming pipeline decodes on the fly; stands where an image array would.

    `keras_lt.data.training_batches` turns it into `StreamingBatches`, `keras_lt.data.EvalBatches`
    into evaluation batches, and indexing selects a subset (`files[keep]`, as an array would for
    the long-tail selection). `shape` is that of the images the pipeline delivers:
    `(N, image_size, image_size, 3)`.

    Args:
        paths: image file paths.
        image_size: side of the square crops the pipeline delivers (224 for ImageNet-LT and iNaturalist).
        workers: decoding processes; None for `default_workers()`.

    Example:
    >>> files = ImageFiles(["data/train/a/1.jpg", "data/train/b/2.jpg"], image_size=224)
    >>> files.shape
    (2, 224, 224, 3)
    """

    def __init__(self, paths, image_size=DEFAULT_IMAGE_SIZE, workers=None):
        self.paths = np.asarray(paths, dtype=object)
        self.image_size = int(image_size)
        self.workers = default_workers() if workers is None else int(workers)

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        return ImageFiles(np.atleast_1d(self.paths[index]), self.image_size, self.workers)

    @property
    def shape(self):
        return (len(self.paths), self.image_size, self.image_size, 3)
