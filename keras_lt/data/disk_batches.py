"""Training batches of a uint8 image array kept on disk: a memory-mapped `.npy` file, read batch by batch."""

import os

import numpy as np
import torch

from keras_lt import distributed
from keras_lt.data.batches import TrainingBatches
from keras_lt.data.resized_crop import random_resized_crop_flip
from keras_lt.errors import KerasLTError

PARTIAL = ".partial"


class DiskBatches(TrainingBatches):
    """Training batches of a uint8 NHWC array in a `.npy` file, memory-mapped: only a batch is read at a time.

    For a training set that is made once and used for many epochs but does not fit in memory
    (AFR's re-balanced set of a streamed data set). `write(count, parts)` makes the file (a
    temporary file beside it, renamed over it in one step, so a reader or a stop never sees half of
    it; a new file, never a change in place, so hard links to the old one keep it); `load()` maps
    the file there. Batch `i` of epoch `e` reads its rows (in file order, once each) and crops
    them on the device with the streamed pipeline's crop + flip (`random_resized_crop_flip`),
    drawn from a generator keyed by `(seed, e, i)`; in a multi-process run every rank reads and
    crops the global batch and keeps its shard, as `DeviceBatches` does. Order, samplers and shards
    are `keras_lt.data.TrainingBatches`'.

    Args:
        path: the `.npy` file of the images.
        labels: integer labels `(N,)`.
        num_classes: number of classes.
        image_shape: `(H, W, C)` of the images.
        batch_size: images per global batch.
        sampler: one of `keras_lt.data.samplers.SAMPLERS`.
        augment: True for random-resized crop + flip, False for none.
        seed: seed of the order and the augmentation.
        device: torch device; defaults to `training_device()`.

    Example:
    >>> batches = DiskBatches("runs/afr/afr_rebalanced_images.npy", labels, 1000, (224, 224, 3), batch_size=256)
    >>> batches.write(len(labels), ((rows, images) for rows, images in parts))
    >>> images, labels = batches[0]
    """

    def __init__(
        self, path, labels, num_classes, image_shape, batch_size=128, sampler="instance", augment=True, seed=0,
        device=None,
    ):
        if augment not in (True, False):
            raise ValueError(f"augment must be True or False; got {augment!r}.")
        self.path = path
        self.image_shape = tuple(image_shape)
        self.images = None
        super().__init__(labels, num_classes, batch_size, sampler, augment, seed, device)

    def write(self, count, parts):
        """Writes the `count` images of `parts`, `(row slice, uint8 NHWC array)` pairs, to the file; maps it.

        In a multi-process run rank 0 writes and the other ranks, given the same path, go through
        `parts` (whose making may take their part in collectives) and map the file once it is
        there: one file, every rank reading the same bytes.

        Args:
            count: the number of images.
            parts: an iterable of `(rows, images)`: a slice of the file's rows and their images,
                covering every row once.
        """
        if not distributed.is_main():
            for _ in parts:
                pass
            distributed.barrier()  # rank 0 has renamed the file into place
            self.load()
            return
        partial = self.path + PARTIAL
        os.makedirs(os.path.dirname(partial) or ".", exist_ok=True)
        array = None
        for rows, images in parts:
            if array is None:
                array = np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8, shape=(count, *images.shape[1:]))
            array[rows] = images
        array.flush()
        del array
        os.replace(partial, self.path)
        distributed.barrier()
        self.load()

    def load(self):
        """Maps the file (read-only); its rows must match the labels."""
        images = np.load(self.path, mmap_mode="r")
        if len(images) != len(self.labels) or images.dtype != np.uint8 or images.ndim != 4:
            raise KerasLTError(
                f"{self.path} holds {images.dtype} images of shape {images.shape}, not {len(self.labels)} uint8 "
                "NHWC images; delete it to regenerate."
            )
        self.images = images

    def read(self, idx):
        """The un-augmented images at `idx` (int64 tensor): uint8 NHWC on the device.

        Before the file is written or loaded, black images: what Keras' look at a first batch, to
        build the metrics before any callback runs, sees (their shape).
        """
        if self.images is None:
            return torch.zeros((len(idx), *self.image_shape), dtype=torch.uint8, device=self.device)
        rows, inverse = np.unique(idx.cpu().numpy(), return_inverse=True)
        return torch.from_numpy(self.images[rows])[torch.from_numpy(inverse.reshape(-1))].to(self.device)

    def images_at(self, idx, generator):
        images = self.read(idx)
        return random_resized_crop_flip(images, generator, scale=(0.08, 1.0)) if self.augment else images

    def __getitem__(self, index):
        idx = self.batch_indices(index)
        images = self.images_at(idx, self._generator(self.epoch, index))  # the global batch's draws, as on the device
        part = self.shard(len(idx))
        return images[part], self.labels[idx[part]]
