"""Tests of keras_lt.data.box_blur: PIL's GaussianBlur on the device, its box radius and its random application."""

import numpy as np
import pytest
import torch
from PIL import Image
from PIL import ImageFilter

from keras_lt.data.box_blur import box_radius
from keras_lt.data.box_blur import gaussian_blur
from keras_lt.data.box_blur import random_gaussian_blur

IMAGES = np.random.default_rng(0).integers(0, 256, (16, 32, 32, 3), dtype=np.uint8)
IMAGES[0] = (np.arange(32 * 32 * 3) % 256).reshape(32, 32, 3)  # every value in every channel
IMAGES[1] = 77  # flat


def pil_blur(image, sigma):
    return np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(radius=sigma)))


def test_box_radius_is_pils_float32_formula():
    """`_gaussian_blur_radius` of Pillow's BoxBlur.c, its C floats as NumPy float32, `sqrt` / `floor` in double."""
    sigmas = np.array([0.1, 0.5, 1.0, 1.37, 1.5, 2.0, 3.0, 5.5, 17.25], dtype=np.float32)
    f = np.float32
    sigma2 = sigmas * sigmas / f(3)
    length = np.sqrt(12.0 * sigma2.astype(np.float64) + 1.0).astype(f)
    whole = np.floor((length.astype(np.float64) - 1.0) / 2.0).astype(f)
    fraction = (f(2) * whole + f(1)) * (whole * (whole + f(1)) - f(3) * sigma2)
    fraction = fraction / (f(6) * (sigma2 - (whole + f(1)) * (whole + f(1))))
    out = box_radius(torch.tensor(sigmas))
    assert out.dtype == torch.float32
    np.testing.assert_array_equal(out.numpy(), whole + fraction)
    # sigma 1.5 by hand: sigma2 = 0.75, L = sqrt(10), l = 1, a = 3 (2 - 2.25) / (6 (0.75 - 4)) = 0.75 / 19.5
    assert box_radius(torch.tensor([1.5])).item() == pytest.approx(1 + 0.75 / 19.5, rel=1e-6)


@pytest.mark.parametrize("sigmas", [[0.1, 0.5, 1.0, 1.37, 2.0, 0.73], [3.0, 5.5, 0.25]])
def test_gaussian_blur_is_pils(sigmas):
    images = torch.tensor(IMAGES[: len(sigmas)])
    out = gaussian_blur(images, torch.tensor(sigmas, dtype=torch.float64)).numpy()
    for k, sigma in enumerate(sigmas):
        np.testing.assert_array_equal(out[k], pil_blur(IMAGES[k], sigma), err_msg=str(sigma))


def test_gaussian_blur_of_images_smaller_than_the_box_is_pils():
    """Non-square images narrower than the box: the edges repeat across the whole kernel."""
    images = np.random.default_rng(1).integers(0, 256, (3, 5, 9, 3), dtype=np.uint8)
    sigmas = [0.6, 3.0, 8.0]
    out = gaussian_blur(torch.tensor(images), torch.tensor(sigmas)).numpy()
    assert out.dtype == np.uint8 and out.shape == images.shape
    for k, sigma in enumerate(sigmas):
        np.testing.assert_array_equal(out[k], pil_blur(images[k], sigma), err_msg=str(sigma))


def test_random_gaussian_blur_is_torchvisions_on_pil():
    images = torch.tensor(IMAGES)
    out = random_gaussian_blur(images, torch.Generator().manual_seed(6)).numpy()
    replay = torch.Generator().manual_seed(6)
    blurred = torch.rand(len(IMAGES), generator=replay) <= 0.5
    sigmas = 0.1 + 1.9 * torch.rand(len(IMAGES), generator=replay, dtype=torch.float64)
    assert 0 < blurred.sum() < len(IMAGES)
    for k in range(len(IMAGES)):
        expected = pil_blur(IMAGES[k], float(sigmas[k])) if blurred[k] else IMAGES[k]
        np.testing.assert_array_equal(out[k], expected, err_msg=str(k))


def test_random_gaussian_blur_probability_and_range():
    images = torch.tensor(IMAGES[:4])
    never = random_gaussian_blur(images, torch.Generator().manual_seed(0), probability=0.0)
    np.testing.assert_array_equal(never.numpy(), IMAGES[:4])
    always = random_gaussian_blur(images, torch.Generator().manual_seed(0), sigma=(1.5, 1.5), probability=1.0).numpy()
    for k in range(4):
        np.testing.assert_array_equal(always[k], pil_blur(IMAGES[k], 1.5))
