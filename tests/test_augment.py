"""Pad + random crop + flip on the device against per-sample NumPy crops at the drawn offsets."""

import numpy as np
import torch

from keras_lt.data.augment import pad
from keras_lt.data.augment import random_crop_flip


def images(batch=64, size=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(batch, size, size, 3), dtype=np.uint8)


def numpy_pad(x, p):
    return np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))


def test_pad_is_zero_padding():
    x = images(4, 8)
    np.testing.assert_array_equal(pad(torch.as_tensor(x), 4).numpy(), numpy_pad(x, 4))


def test_each_output_is_its_crop_at_the_drawn_offsets():
    x = images()
    padded = numpy_pad(x, 4)
    out = random_crop_flip(pad(torch.as_tensor(x), 4), (32, 32), torch.Generator().manual_seed(3))
    assert out.dtype == torch.uint8 and out.shape == (64, 32, 32, 3)
    # The same draws, in the documented order: tops, lefts, then the flip coins.
    g = torch.Generator().manual_seed(3)
    tops = torch.randint(0, 9, (64, 1), generator=g)[:, 0].numpy()
    lefts = torch.randint(0, 9, (64, 1), generator=g)[:, 0].numpy()
    flips = (torch.rand((64, 1), generator=g) < 0.5)[:, 0].numpy()
    for n in range(64):
        crop = padded[n, tops[n] : tops[n] + 32, lefts[n] : lefts[n] + 32]
        expected = crop[:, ::-1] if flips[n] else crop
        np.testing.assert_array_equal(out[n].numpy(), expected)
    assert 0 < flips.sum() < 64 and len(set(zip(tops, lefts))) > 20


def test_outputs_are_one_of_the_possible_crops():
    x = images(16, 12, seed=1).astype(np.float32)
    padded = numpy_pad(x, 2)
    out = random_crop_flip(torch.as_tensor(padded), (12, 12), torch.Generator().manual_seed(4)).numpy()
    assert out.dtype == np.float32
    for n in range(16):
        candidates = [
            c
            for t in range(5)
            for l in range(5)
            for c in (padded[n, t : t + 12, l : l + 12], padded[n, t : t + 12, l : l + 12][:, ::-1])
        ]
        assert sum(np.array_equal(out[n], c) for c in candidates) >= 1


def test_no_flip():
    x = images(8, 6, seed=2)
    out = random_crop_flip(torch.as_tensor(x), (6, 6), torch.Generator(), flip=False)
    np.testing.assert_array_equal(out.numpy(), x)  # the only unflipped full-size crop is the image
