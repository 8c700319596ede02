"""Cutout (DeVries & Taylor, 2017) on the device, vectorised over the batch."""

import torch

from keras_lt.data.cutmix import box_mask
from keras_lt.data.cutmix import random_boxes


def cutout(images, length, generator, fill=0):
    """Sets one `length x length` square of every image to `fill`, centred on a uniform pixel.

    As the reference `Cutout(n_holes=1, length=16)` (uoguelph-mlrg/Cutout, used by CMO's
    AutoAugment recipe): the centre is uniform over the pixels, the square spans
    `centre - length // 2 .. centre + length // 2` and is clipped to the image. The reference zeroes
    the `ToTensor` image before normalisation, so `fill=0` is a black square on our 0..255 images.

    Args:
        images: `(B, H, W, C)` uint8 or float tensor.
        length: side of the square, in pixels.
        generator: the `torch.Generator` of the centres (rows drawn first, then columns).
        fill: the value written inside the square.

    Returns:
        A new tensor like `images`.

    Example:
    >>> out = cutout(images, 16, torch.Generator().manual_seed(0))
    """
    batch, height, width = images.shape[:3]
    side = torch.full((batch,), int(length), dtype=torch.int64, device=images.device)
    mask = box_mask(*random_boxes(side, side, height, width, generator), height, width)
    return torch.where(mask, torch.as_tensor(fill, dtype=images.dtype, device=images.device), images)
