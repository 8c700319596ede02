"""Tests of keras_lt.data.enhance: PIL's convert("L"), Image.blend and ImageEnhance on uint8 NHWC batches."""

import numpy as np
import pytest
import torch
from PIL import Image
from PIL import ImageEnhance

from keras_lt.data import enhance

IMAGES = np.random.default_rng(0).integers(0, 256, (6, 9, 7, 3), dtype=np.uint8)
IMAGES[0] = (np.arange(9 * 7 * 3) * 4 % 256).reshape(9, 7, 3)
IMAGES[1] = 131  # flat: contrast and colour leave it as it is
FACTORS = [0.0, 0.37, 1.0, 1.3, 2.5, -0.4]  # one per image: black / grey, in between, identity, beyond, clipped


def test_grey_is_pils_convert_l():
    out = enhance.grey(torch.tensor(IMAGES))
    assert out.dtype == torch.int64 and out.shape == (6, 9, 7, 1)
    expected = np.stack([np.asarray(Image.fromarray(image).convert("L")) for image in IMAGES])
    np.testing.assert_array_equal(out[..., 0].numpy(), expected)


def test_blend_by_hand():
    images = torch.tensor([50, 200, 200, 200, 10], dtype=torch.uint8).view(5, 1, 1, 1)
    factor = torch.tensor([0.31, 1.5, 2.0, -1.0, 0.5])
    out = enhance.blend(torch.tensor(100.0), images, factor)
    # 100 + f (x - 100): 84.5 truncated, 250, 300 clipped, -0 clipped, 55
    assert out.dtype == torch.uint8 and out.flatten().tolist() == [84, 250, 255, 0, 55]


@pytest.mark.parametrize("name, enhancer", [("brightness", "Brightness"), ("contrast", "Contrast"), ("color", "Color")])
def test_enhancements_are_pils_with_a_factor_per_image(name, enhancer):
    out = getattr(enhance, name)(torch.tensor(IMAGES), torch.tensor(FACTORS, dtype=torch.float32)).numpy()
    for k, factor in enumerate(FACTORS):
        expected = getattr(ImageEnhance, enhancer)(Image.fromarray(IMAGES[k])).enhance(factor)
        np.testing.assert_array_equal(out[k], np.asarray(expected), err_msg=f"{name} {factor}")
    np.testing.assert_array_equal(out[2], IMAGES[2])  # factor 1: the image itself
