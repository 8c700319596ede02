"""The device-resident training pipeline: uint8 images stay on the device, batches are built there."""

import math

import keras
import numpy as np
import torch

from keras_lt.data.augment import pad
from keras_lt.data.augment import random_crop_flip
from keras_lt.data.paco_augment import paco_augment
from keras_lt.data.paco_augment import regular_augment
from keras_lt.data.samplers import ClassSampler
from keras_lt.data.samplers import class_probabilities

AUGMENTATIONS = ("crop_flip", "autoaugment", "paco")  # besides True (= "crop_flip") and False (none)


def training_device():
    """The device Keras' torch backend computes on ("cuda" when a GPU is present)."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class DeviceBatches(keras.utils.PyDataset):
    """Training batches gathered and augmented on the device, one epoch at a time.

    The whole training set is moved once to the device as uint8 NHWC; each batch is an index gather
    plus one vectorised crop-and-flip. The epoch's order is drawn in `set_epoch(epoch)` from a
    generator seeded by `(seed, epoch)`, and batch `i`'s augmentation from one seeded by
    `(seed, epoch, i)`, so batch `i` of epoch `e` is the same whatever was fetched before it (a
    peek, a resumed run, Keras' batch shuffling). Pass it to `fit(..., shuffle=False)`: the order is
    already random, and Keras' shuffle of the batches uses Python's `random`, which a resumed run
    does not restore. `EpochSeeder` (or the trainer's `fit`) calls `set_epoch`.

    Args:
        images: uint8 array `(N, H, W, C)`.
        labels: integer labels `(N,)`.
        num_classes: number of classes.
        batch_size: images per batch; the last batch of an epoch may be smaller.
        sampler: "instance" (shuffle without replacement), "class_balanced" or "inverse_frequency"
            (class-first sampling with replacement, `N` draws per epoch).
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
        super().__init__()
        if augment not in (True, False, *AUGMENTATIONS):
            raise ValueError(f"augment must be True, False or one of {', '.join(AUGMENTATIONS)}; got {augment!r}.")
        self.device = torch.device(device) if device else training_device()
        self.images = torch.as_tensor(np.asarray(images)).to(self.device)
        self.labels = torch.as_tensor(np.asarray(labels), dtype=torch.int64).to(self.device)
        self.num_classes = num_classes
        self.batch_size = batch_size
        self.sampler = sampler
        self.augment = augment
        self.padding = padding
        self.cutout_length = cutout_length
        self.seed = seed
        self.class_sampler = ClassSampler(self.labels, num_classes)
        self.class_counts = self.class_sampler.class_counts.cpu().numpy()
        self.set_epoch(0)

    def __len__(self):
        return math.ceil(len(self.labels) / self.batch_size)

    def _generator(self, *key):
        """A device generator seeded by `seed` with `key` as spawn key: distinct keys, distinct streams."""
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

    def augment_batch(self, images, generator):
        """The batches' augmentation of a uint8 NHWC batch on the device (pad + crop + flip, and more)."""
        if self.augment == "paco":
            return paco_augment(images, generator, self.padding, self.cutout_length)
        if self.augment == "autoaugment":
            return regular_augment(images, generator, self.padding, self.cutout_length)
        return random_crop_flip(pad(images, self.padding), images.shape[1:3], generator)

    def __getitem__(self, index):
        idx = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        images = self.images[idx]
        if self.augment:
            images = self.augment_batch(images, self._generator(self.epoch, index))
        return images, self.labels[idx]
