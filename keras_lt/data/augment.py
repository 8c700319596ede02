"""Batch augmentations on the training device, as functions of (images, generator)."""

import torch


def pad(images, padding):
    """Zero-pads a uint8 NHWC batch (or a whole dataset) by `padding` pixels on each side, once."""
    return torch.nn.functional.pad(images, (0, 0, padding, padding, padding, padding))


def random_crop_flip(padded, size, generator, flip=True):
    """Random `size` crops of a padded NHWC batch, each horizontally flipped with probability 1/2.

    One gather does crop and flip for the whole batch: with the dataset padded once (`pad`), this is
    the standard CIFAR "pad 4 + random crop + flip" with no per-sample Python.

    Args:
        padded: uint8 (or float) tensor `(B, H + 2p, W + 2p, C)`.
        size: `(h, w)` of the crops.
        generator: the `torch.Generator` of the batch's randomness.
        flip: whether to flip horizontally at random.

    Returns:
        A tensor `(B, h, w, C)` of the same dtype.

    Example:
    >>> crops = random_crop_flip(pad(images, 4), (32, 32), torch.Generator())
    """
    batch, height, width = padded.shape[:3]
    h, w = size
    device = padded.device
    top = torch.randint(0, height - h + 1, (batch, 1), device=device, generator=generator)
    left = torch.randint(0, width - w + 1, (batch, 1), device=device, generator=generator)
    cols = torch.arange(w, device=device).expand(batch, w)
    if flip:
        flipped = torch.rand((batch, 1), device=device, generator=generator) < 0.5
        cols = torch.where(flipped, w - 1 - cols, cols)
    rows = top + torch.arange(h, device=device)
    cols = left + cols
    batch_idx = torch.arange(batch, device=device)[:, None, None]
    return padded[batch_idx, rows[:, :, None], cols[:, None, :]]
