"""The CIFAR augmentation of CMO's `--use_randaug` (PaCo's setting), per image, on the device.

naver-ai/cmo's `cifar_train.py` with `--use_randaug` (its 400-epoch recipe, "following PaCo's
setting") gives the dataset two transforms, and `imbalance_cifar.py`'s `__getitem__` picks one per
image with `random.random() < 0.5`:

- regular: `RandomCrop(32, padding=4)`, `RandomHorizontalFlip()`, `CIFAR10Policy()` (AutoAugment),
  `ToTensor()`, `Cutout(n_holes=1, length=16)`;
- SimCLR-like (`augmentation_sim_cifar`): `RandomResizedCrop(32, scale=(0.2, 1.))`,
  `RandomHorizontalFlip()`, `RandomApply([ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8)`,
  `RandomGrayscale(p=0.2)`, `RandomApply([GaussianBlur([.1, 2.])], p=0.5)` (MoCo's PIL blur).

It is not AutoAugment + Cutout on every image. Both the background batch and CMO's foreground batch
come from that dataset, so both get it. `Normalize` is the model's own (training mean / std here,
fixed CIFAR constants there). Every operation is a batch operation (`keras_lt.data.autoaugment`,
`cutout`, `resized_crop`, `color_jitter`, `box_blur`), each image's draws made up front: no
per-image Python.
"""

import torch

from keras_lt.data.augment import pad
from keras_lt.data.augment import random_crop_flip
from keras_lt.data.autoaugment import autoaugment
from keras_lt.data.box_blur import random_gaussian_blur
from keras_lt.data.color_jitter import color_jitter
from keras_lt.data.color_jitter import random_grayscale
from keras_lt.data.cutout import cutout
from keras_lt.data.resized_crop import random_resized_crop_flip


def regular_augment(images, generator, padding=4, cutout_length=16):
    """Pad + random crop + flip, AutoAugment's CIFAR-10 policy, Cutout: the regular branch.

    Args:
        images: uint8 `(K, H, W, 3)` un-augmented images.
        generator: the `torch.Generator` of the draws (crop and flip, policy, Cutout centres).
        padding: pixels of zero padding before the crop.
        cutout_length: side of the Cutout square.

    Returns:
        A new uint8 tensor like `images`.

    Example:
    >>> out = regular_augment(images, torch.Generator().manual_seed(0))
    """
    images = random_crop_flip(pad(images, padding), images.shape[1:3], generator)
    return cutout(autoaugment(images, generator), cutout_length, generator)


def simclr_augment(images, generator):
    """RandomResizedCrop (scale 0.2..1) + flip, colour jitter (p 0.8), grayscale (p 0.2), blur (p 0.5).

    Draws, in this order: those of `random_resized_crop_flip` (boxes, then flips), then those of
    `color_jitter`, `random_grayscale` and `random_gaussian_blur`.

    Example:
    >>> strong = simclr_augment(images, torch.Generator().manual_seed(0))
    """
    images = random_resized_crop_flip(images, generator)
    images = random_grayscale(color_jitter(images, generator), generator)
    return random_gaussian_blur(images, generator)


def paco_augment(images, generator, padding=4, cutout_length=16):
    """CMO's `--use_randaug` augmentation of a uint8 NHWC batch: each image one of the two branches.

    Draws, in this order: a `(B,)` uniform (`< 0.5`: the regular branch, as the reference's
    `random.random() < 0.5`), then the regular branch's draws for its images, then the SimCLR-like
    branch's for the others.

    Args:
        images: uint8 `(B, H, W, 3)` un-augmented training images on the device.
        generator: the `torch.Generator` of the draws.
        padding: the regular branch's crop padding.
        cutout_length: the regular branch's Cutout side.

    Returns:
        A new uint8 tensor like `images`.

    Example:
    >>> augmented = paco_augment(batches.images[idx], torch.Generator(device).manual_seed(0))
    """
    regular = torch.rand(images.shape[0], device=images.device, generator=generator) < 0.5
    out = torch.empty_like(images)
    first, second = torch.nonzero(regular).squeeze(1), torch.nonzero(~regular).squeeze(1)
    if first.numel():
        out[first] = regular_augment(images[first], generator, padding, cutout_length)
    if second.numel():
        out[second] = simclr_augment(images[second], generator)
    return out
