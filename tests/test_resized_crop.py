"""Tests of keras_lt.data.resized_crop: PIL's crop + bilinear resize, torchvision's RandomResizedCrop boxes and flip."""

import math

import numpy as np
import pytest
import torch
from PIL import Image

from keras_lt.data.resized_crop import random_resized_boxes
from keras_lt.data.resized_crop import random_resized_crop_flip
from keras_lt.data.resized_crop import resized_crop

IMAGES = np.random.default_rng(0).integers(0, 256, (12, 32, 32, 3), dtype=np.uint8)
IMAGES[0] = (np.arange(32 * 32 * 3) % 256).reshape(32, 32, 3)  # every value in every channel


def pil_crop_resize(image, top, left, height, width, size):
    """`img.crop(box).resize(size, BILINEAR)` of a NumPy HWC image; `size` is (height, width)."""
    box = (left, top, left + width, top + height)
    return np.asarray(Image.fromarray(image).crop(box).resize(size[::-1], Image.BILINEAR))


def tv_resized_crop_params(shares, log_ratios, u_top, u_left, height=32, width=32):
    """`RandomResizedCrop.get_params` (scale (0.2, 1), ratio (3/4, 4/3)) fed the same uniforms: the first box that fits."""
    area = height * width
    for share, log_ratio in zip(shares, log_ratios):
        target_area = area * share
        aspect_ratio = float(torch.exp(torch.tensor(log_ratio, dtype=torch.float32)))  # a float32 exp, as torchvision
        w = int(round(math.sqrt(target_area * aspect_ratio)))
        h = int(round(math.sqrt(target_area / aspect_ratio)))
        if 0 < w <= width and 0 < h <= height:
            return int(u_top * (height - h + 1)), int(u_left * (width - w + 1)), h, w
    return 0, 0, height, width  # the central crop of a square image: all of it


def test_resized_crop_is_pils_crop_and_bilinear_resize():
    boxes = [(0, 0, 32, 32), (3, 5, 13, 20), (0, 10, 32, 17), (19, 0, 13, 32), (7, 7, 1, 1), (31, 31, 1, 1)]
    rng = np.random.default_rng(1)
    boxes += [tuple(int(v) for v in rng.integers([0, 0, 1, 1], [20, 20, 13, 13])) for _ in range(30)]
    top, left, h, w = (torch.tensor([b[i] for b in boxes]) for i in range(4))
    images = IMAGES[np.arange(len(boxes)) % len(IMAGES)]
    out = resized_crop(torch.tensor(images), top, left, h, w, (32, 32)).numpy()
    for k, box in enumerate(boxes):
        np.testing.assert_array_equal(out[k], pil_crop_resize(images[k], *box, (32, 32)), err_msg=str(box))


def test_resized_crop_to_a_non_square_size_is_pils():
    images = np.random.default_rng(2).integers(0, 256, (4, 9, 14, 3), dtype=np.uint8)
    boxes = [(0, 0, 9, 14), (2, 3, 5, 11), (8, 13, 1, 1), (1, 0, 7, 6)]
    top, left, h, w = (torch.tensor([b[i] for b in boxes]) for i in range(4))
    out = resized_crop(torch.tensor(images), top, left, h, w, (9, 14)).numpy()
    assert out.dtype == np.uint8 and out.shape == (4, 9, 14, 3)
    for k, box in enumerate(boxes):
        np.testing.assert_array_equal(out[k], pil_crop_resize(images[k], *box, (9, 14)), err_msg=str(box))


def test_random_resized_boxes_follow_torchvisions_get_params():
    batch = 400
    top, left, h, w = random_resized_boxes(batch, 32, 32, torch.Generator().manual_seed(3))
    replay = torch.Generator().manual_seed(3)
    shares = 0.2 + 0.8 * torch.rand((batch, 10), generator=replay)
    low, high = math.log(3 / 4), math.log(4 / 3)
    log_ratios = low + (high - low) * torch.rand((batch, 10), generator=replay)
    u_top = torch.rand(batch, generator=replay, dtype=torch.float64)
    u_left = torch.rand(batch, generator=replay, dtype=torch.float64)
    for k in range(batch):
        expected = tv_resized_crop_params(shares[k].tolist(), log_ratios[k].tolist(), float(u_top[k]), float(u_left[k]))
        assert (int(top[k]), int(left[k]), int(h[k]), int(w[k])) == expected, k
    share = (h * w).double() / 1024
    assert share.min() >= 0.18 and share.max() <= 1.0 and 0.5 < share.mean() < 0.7  # U(0.2, 1): mean 0.6


@pytest.mark.parametrize(
    "height, width, expected",
    [
        # No box of 99-100% of a 4 x 40 image has a ratio in [3/4, 4/3]: the central crop cut to the
        # ratio bounds, h = 4, w = round(4 * 4 / 3) = 5, left (40 - 5) // 2 = 17; the portrait transposed.
        (4, 40, (0, 17, 4, 5)),
        (40, 4, (17, 0, 5, 4)),
    ],
)
def test_random_resized_boxes_fall_back_to_the_central_crop(height, width, expected):
    boxes = random_resized_boxes(3, height, width, torch.Generator().manual_seed(0), scale=(0.99, 1.0))
    for k in range(3):
        assert tuple(int(v[k]) for v in boxes) == expected


def test_random_resized_boxes_of_a_non_square_image_stay_inside_it():
    top, left, h, w = random_resized_boxes(2000, 24, 40, torch.Generator().manual_seed(1), scale=(0.08, 1.0))
    assert top.dtype == torch.int64
    assert (top >= 0).all() and (top + h <= 24).all() and (left >= 0).all() and (left + w <= 40).all()
    share = (h * w).double() / (24 * 40)
    assert share.min() >= 0.07 and share.max() <= 1.0
    w, h = w.double(), h.double()  # the drawn ratio is in [3/4, 4/3]; w and h are rounded to integers
    assert ((w + 0.5) / (h - 0.5) >= 3 / 4).all() and ((w - 0.5) / (h + 0.5) <= 4 / 3).all()


def test_random_resized_crop_flip_is_the_drawn_crop_then_the_drawn_flip():
    images = np.random.default_rng(3).integers(0, 256, (40, 10, 16, 3), dtype=np.uint8)
    out = random_resized_crop_flip(torch.tensor(images), torch.Generator().manual_seed(4), scale=(0.08, 1.0)).numpy()
    replay = torch.Generator().manual_seed(4)  # the documented draws: the boxes, then the flips
    boxes = random_resized_boxes(40, 10, 16, replay, scale=(0.08, 1.0))
    flipped = (torch.rand(40, generator=replay) < 0.5).numpy()
    assert 0 < flipped.sum() < 40
    for k in range(40):
        expected = pil_crop_resize(images[k], *(int(v[k]) for v in boxes), (10, 16))
        np.testing.assert_array_equal(out[k], expected[:, ::-1] if flipped[k] else expected, err_msg=str(k))
