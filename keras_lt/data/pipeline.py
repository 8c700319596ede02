"""The device-resident training pipeline: uint8 images stay on the device, batches are built there."""

import numpy as np
import torch

from keras_lt.data.augment import pad
from keras_lt.data.augment import random_crop_flip
from keras_lt.data.batches import TrainingBatches
from keras_lt.data.batches import training_device
from keras_lt.data.image_files import ImageFiles
from keras_lt.data.paco_augment import paco_augment
from keras_lt.data.paco_augment import regular_augment
from keras_lt.errors import DataError
from keras_lt.errors import KerasLTError

AUGMENTATIONS = ("crop_flip", "autoaugment", "paco")  # besides True (= "crop_flip") and False (none)

__all__ = ["AUGMENTATIONS", "DeviceBatches", "training_device"]


class DeviceBatches(TrainingBatches):
    """Training batches gathered and augmented on the device, one epoch at a time.

    The whole training set is moved once to the device as uint8 NHWC; each batch is an index gather
    plus one vectorised crop-and-flip. The epoch's order is drawn in `set_epoch(epoch)` from a
    generator seeded by `(seed, epoch)`, and batch `i`'s augmentation from one seeded by
    `(seed, epoch, i)`, so batch `i` of epoch `e` is the same whatever was fetched before it (a
    peek, a resumed run, Keras' batch shuffling). Pass it to `fit(..., shuffle=False)`: the order is
    already random, and Keras' shuffle of the batches uses Python's `random`, which a resumed run
    does not replay. `EpochSeeder` (which `ERMTrainer.fit` adds) calls `set_epoch`. In a multi-process
    run every rank augments the global batch (a few vectorised ops) and keeps its shard, so the
    ranks see exactly what one process sees (`keras_lt.data.TrainingBatches`).

    Args:
        images: uint8 array `(N, H, W, C)`.
        labels: integer labels `(N,)`.
        num_classes: number of classes.
        batch_size: images per batch; the last batch of an epoch may be smaller.
        sampler: "instance" (shuffle without replacement), "class_balanced", "inverse_frequency" or
            "square_root" (class-first sampling with replacement, `N` draws per epoch).
        augment: True or "crop_flip" for pad + random crop + horizontal flip; "autoaugment" for
            crop + flip, then AutoAugment's CIFAR-10 policy, then Cutout (one `cutout_length`
            square) on every image; "paco" for what naver-ai/cmo's `--use_randaug` applies, each
            image either that or a SimCLR-style branch (`keras_lt.data.paco_augment`); False for none.
        padding: pixels of zero padding before the random crop.
        seed: seed of the order and the augmentation.
        device: torch device; defaults to `training_device()`.
        cutout_length: side of the Cutout square ("autoaugment" and "paco").

    Example:
    >>> batches = DeviceBatches(images, labels, 10, batch_size=128)
    >>> trainer.fit(batches, epochs=30)
    """

    def __init__(
        self,
        images,
        labels,
        num_classes,
        batch_size=128,
        sampler="instance",
        augment=True,
        padding=4,
        seed=0,
        device=None,
        cutout_length=16,
    ):
        if augment not in (True, False, *AUGMENTATIONS):
            raise ValueError(f"augment must be True, False or one of {', '.join(AUGMENTATIONS)}; got {augment!r}.")
        if isinstance(images, ImageFiles):
            raise KerasLTError(
                "this pipeline keeps the training set on the device; image files stream through "
                "keras_lt.data.StreamingBatches (keras_lt.data.training_batches picks it)."
            )
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim != 4:
            raise DataError(
                f"images must be uint8 0..255 in NHWC (the model normalises them), not {images.dtype} of shape "
                f"{images.shape}; of floats in [0, 1] take np.round(images * 255).astype('uint8')."
            )
        if len(images) != len(labels):
            raise DataError(f"{len(images)} images and {len(labels)} labels; give one label per image.")
        self.padding = padding
        self.cutout_length = cutout_length
        super().__init__(labels, num_classes, batch_size, sampler, augment, seed, device)
        self.images = torch.as_tensor(images).to(self.device)

    def augment_batch(self, images, generator):
        """The batches' augmentation of a uint8 NHWC batch on the device (pad + crop + flip, and more)."""
        if self.augment == "paco":
            return paco_augment(images, generator, self.padding, self.cutout_length)
        if self.augment == "autoaugment":
            return regular_augment(images, generator, self.padding, self.cutout_length)
        return random_crop_flip(pad(images, self.padding), images.shape[1:3], generator)

    def images_at(self, idx, generator):
        images = self.images[idx]
        return self.augment_batch(images, generator) if self.augment else images

    def __getitem__(self, index):
        idx = self.batch_indices(index)
        images = self.images[idx]
        if self.augment:
            images = self.augment_batch(images, self._generator(self.epoch, index))
        part = self.shard(len(idx))
        return images[part], self.labels[idx[part]]
