"""What every training pipeline gives the trainers: seeded epoch order, sampler, shard, images on demand."""

import math

import keras
import numpy as np
import torch

from keras_lt.data.samplers import ClassSampler
from keras_lt.data.samplers import class_probabilities
from keras_lt.distributed import rank
from keras_lt.distributed import shard_bounds
from keras_lt.distributed import world_size
from keras_lt.errors import DataError


def training_device():
    """The device Keras' torch backend computes on ("cuda" when a GPU is present)."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def class_ids(labels, num_classes):
    """`labels` as int64 class ids `(N,)`; one `DataError` line unless they are whole numbers in 0..num_classes-1.

    A column `(N, 1)` is taken as `(N,)`; one-hot rows, fractions and ids out of range are refused
    (they failed deep in torch, or were truncated to other classes).

    Example:
    >>> class_ids(np.array([[0.0], [2.0]]), 3)
    array([0, 2])
    """
    array = np.asarray(labels)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise DataError(
            f"labels must be one class id per image, shape (N,), not {array.shape}; of one-hot labels take "
            "np.argmax(labels, axis=1)."
        )
    whole = np.issubdtype(array.dtype, np.integer) or (
        np.issubdtype(array.dtype, np.floating) and bool(np.all(np.isfinite(array) & (array == np.round(array))))
    )
    if not whole:
        raise DataError(f"labels must be whole class ids, not {array.dtype} values such as {array[:3].tolist()}.")
    if len(array) and (array.min() < 0 or array.max() >= num_classes):
        raise DataError(
            f"labels must be class ids in 0..{num_classes - 1} ({num_classes} classes), not {int(array.min())}.."
            f"{int(array.max())}."
        )
    return array.astype(np.int64)


class TrainingBatches(keras.utils.PyDataset):
    """The interface the trainers see: batches of uint8 NHWC images on the device, and the training set behind them.

    Subclasses say where images come from: `keras_lt.data.DeviceBatches` (the whole set on the
    device) and `keras_lt.data.StreamingBatches` (image files decoded by a worker pool). Here is
    what they share:

    - The epoch's order, drawn in `set_epoch(epoch)` from a generator seeded by `(seed, epoch)`
      with the sampler ("instance": a permutation; "class_balanced", "inverse_frequency",
      "square_root": class-first draws with replacement, N per epoch), so batch `i` of epoch `e`
      is the same whatever was fetched before it. Fit with `shuffle=False` and an `EpochSeeder`.
    - Batch `i` is `order[i * B : (i + 1) * B]`, the global batch; in a multi-process run
      (`keras_lt.distributed`) each rank takes its contiguous shard of it (`shard_bounds`), so
      the ranks together see exactly the batches of one process.
    - `images_at(idx, generator)`: the training images at `idx`, augmented as the batches are, on
      the device. The methods that draw extra images inside their step (CP-Mix's partners, CMO's
      foregrounds, AFR's backgrounds) ask for them here, with indices from `class_sampler`.

    Args:
        labels: integer labels `(N,)` of the training set (`class_ids`).
        num_classes: number of classes.
        batch_size: images per global batch; the last batch of an epoch may be smaller.
        sampler: one of `keras_lt.data.samplers.SAMPLERS`.
        augment: the pipeline's augmentation (see the subclass), or False.
        seed: seed of the order and the augmentation.
        device: torch device; defaults to `training_device()`.

    Example:
    >>> batches.set_epoch(3)
    >>> images, labels = batches[0]                    # this rank's shard of batch 0 of epoch 3
    >>> extra = batches.images_at(batches.class_sampler.sample_classes(classes, generator), generator)
    """

    def __init__(self, labels, num_classes, batch_size=128, sampler="instance", augment=True, seed=0, device=None):
        super().__init__()
        self.device = torch.device(device) if device else training_device()
        self.labels = torch.as_tensor(class_ids(labels, num_classes)).to(self.device)
        self.num_classes = num_classes
        self.batch_size = batch_size
        self.sampler = sampler
        self.augment = augment
        self.seed = seed
        self.rank, self.world_size = rank(), world_size()
        self.class_sampler = ClassSampler(self.labels, num_classes)
        self.class_counts = self.class_sampler.class_counts.cpu().numpy()
        self.set_epoch(0)

    def __len__(self):
        return math.ceil(len(self.labels) / self.batch_size)

    def _generator(self, *key):
        """A device generator seeded by `seed` with `key` as spawn key (`keras_lt.random_keys`: distinct keys, distinct streams)."""
        generator = torch.Generator(device=self.device)
        generator.manual_seed(int(np.random.SeedSequence(self.seed, spawn_key=key).generate_state(1)[0]))
        return generator

    def set_epoch(self, epoch):
        """Draws the order of `epoch` deterministically; the batches' augmentation follows it."""
        self.epoch = epoch
        generator = self._generator(epoch)
        n = len(self.labels)
        if self.sampler == "instance":
            self.order = torch.randperm(n, device=self.device, generator=generator)
        else:
            probabilities = class_probabilities(self.class_counts, self.sampler)
            self.order = self.class_sampler.sample(probabilities, n, generator)

    def batch_indices(self, index):
        """The training-set indices of global batch `index` of the current epoch."""
        return self.order[index * self.batch_size : (index + 1) * self.batch_size]

    def shard(self, size):
        """`slice` of this rank's part of a global batch of `size` (all of it in one process)."""
        return slice(*shard_bounds(size, self.rank, self.world_size))

    def images_at(self, idx, generator):
        """The training images at `idx` (int64 tensor), augmented as the batches are: uint8 NHWC on the device."""
        raise NotImplementedError
