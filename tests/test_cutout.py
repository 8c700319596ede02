"""Tests of keras_lt.data.cutout: one square per image, as uoguelph-mlrg/Cutout, against a NumPy reference."""

import numpy as np
import torch

from keras_lt.data.cutout import cutout


def reference_cutout(images, length, generator, fill=0):
    """uoguelph-mlrg/Cutout with one hole, image by image, fed the same centres (rows drawn first, then columns)."""
    batch, height, width = images.shape[:3]
    ys = torch.randint(0, height, (batch,), generator=generator).numpy()
    xs = torch.randint(0, width, (batch,), generator=generator).numpy()
    expected = images.copy()
    for i in range(batch):
        y1, y2 = np.clip(ys[i] - length // 2, 0, height), np.clip(ys[i] + length // 2, 0, height)
        x1, x2 = np.clip(xs[i] - length // 2, 0, width), np.clip(xs[i] + length // 2, 0, width)
        expected[i, y1:y2, x1:x2] = fill
    return expected


def test_cutout_matches_the_reference():
    images = np.random.default_rng(3).integers(1, 256, (30, 8, 10, 3), dtype=np.uint8)
    out = cutout(torch.tensor(images), 4, torch.Generator().manual_seed(0))
    assert out.dtype == torch.uint8
    np.testing.assert_array_equal(out.numpy(), reference_cutout(images, 4, torch.Generator().manual_seed(0)))


def test_float_images_an_odd_length_and_a_fill():
    images = np.random.default_rng(4).uniform(0.5, 1.0, (20, 7, 9, 2)).astype(np.float32)
    out = cutout(torch.tensor(images), 5, torch.Generator().manual_seed(1), fill=-1.5)
    assert out.dtype == torch.float32
    expected = reference_cutout(images, 5, torch.Generator().manual_seed(1), fill=-1.5)
    np.testing.assert_array_equal(out.numpy(), expected)
    # an odd length spans centre - 2 .. centre + 2, end excluded: 4 x 4 where it is not clipped
    assert (out == -1.5).all(-1).sum((1, 2)).max() == 16


def test_a_square_twice_the_image_covers_it_whatever_the_centre():
    images = torch.full((6, 5, 5, 3), 200, dtype=torch.uint8)
    out = cutout(images, 10, torch.Generator().manual_seed(2))
    assert not out.any()
    np.testing.assert_array_equal(images.numpy(), 200)  # the input is left alone
