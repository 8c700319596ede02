"""Evaluation batches of image files: the standard resize + centre crop, in order, decoded by a worker pool."""

import math

import keras

from keras_lt.data.decode_pool import DecodePool
from keras_lt.data.eval_transform import EvalTransform


class EvalBatches(keras.utils.PyDataset):
    """The images of a `keras_lt.data.ImageFiles` in order, as uint8 NHWC batches for `predict`.

    Each image is `EvalTransform(files.image_size)`: short side to `image_size * 256 / 224`, centre
    crop `image_size`; `DecodePool`'s DataLoader workers decode ahead.

    Args:
        files: a `keras_lt.data.ImageFiles`.
        batch_size: images per batch.

    Example:
    >>> logits = network.predict(EvalBatches(test_files, 256), verbose=0)
    """

    def __init__(self, files, batch_size=256):
        super().__init__()
        self.size = len(files)
        self.batch_size = int(batch_size)
        self.pool = DecodePool(files.paths, EvalTransform(files.image_size), files.workers, files.shape[1:])

    def __len__(self):
        return math.ceil(self.size / self.batch_size)

    def _items_from(self, start):
        for index in range(start, len(self)):
            yield [(i, 0) for i in range(index * self.batch_size, min((index + 1) * self.batch_size, self.size))]

    def __getitem__(self, index):
        return (self.pool.batch(index, self._items_from),)

    def on_epoch_end(self):
        self.pool.reset()
