"""The streaming training augmentation against PIL doing torchvision's RandomResizedCrop + flip + ColorJitter."""

import math

import numpy as np
import pytest
from PIL import Image
from PIL import ImageEnhance

from keras_lt.data.train_transform import TrainTransform
from keras_lt.data.train_transform import jitter
from keras_lt.data.train_transform import random_resized_box
from keras_lt.errors import DataError


def _image(path, width, height, seed=0, fmt="PNG"):
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return path


def test_boxes_follow_the_scale_and_ratio_ranges():
    rng = np.random.default_rng(0)
    for _ in range(2000):
        top, left, h, w = random_resized_box(500, 375, rng)
        assert 0 <= top <= 375 - h and 0 <= left <= 500 - w
        assert 0.08 * 500 * 375 * 0.9 <= h * w <= 500 * 375
        assert 3 / 4 - 0.05 <= w / h <= 4 / 3 + 0.05  # rounding of w and h


def test_box_fallback_is_torchvisions_central_crop():
    # No box of 99-100% of a 400 x 20 image has a ratio in [3/4, 4/3]: torchvision's fallback is the
    # central crop cut to the ratio bounds: h = 20, w = round(20 * 4 / 3) = 27; portrait w = 20, h = round(20 / (3 / 4)) = 27.
    assert random_resized_box(400, 20, np.random.default_rng(0), scale=(0.99, 1.0)) == (0, (400 - 27) // 2, 20, 27)
    assert random_resized_box(20, 400, np.random.default_rng(0), scale=(0.99, 1.0)) == ((400 - 27) // 2, 0, 27, 20)


def test_full_scale_decode_is_crop_resize_flip_of_pil(tmp_path):
    path = _image(tmp_path / "a.png", 90, 70)
    transform = TrainTransform(32)
    for seed in range(8):
        rng = np.random.default_rng(seed)  # replay the transform's draws: the box, then the flip
        top, left, h, w = random_resized_box(90, 70, rng)
        reference = Image.open(path).convert("RGB").crop((left, top, left + w, top + h)).resize((32, 32), Image.BILINEAR)
        if rng.random() < 0.5:
            reference = reference.transpose(Image.FLIP_LEFT_RIGHT)
        out = transform(str(path), seed)
        assert out.dtype == np.uint8 and out.shape == (32, 32, 3)
        np.testing.assert_array_equal(out, np.asarray(reference))


def test_jpeg_reduced_decode_stays_close_to_full_decode(tmp_path):
    path = _image(tmp_path / "big.jpg", 640, 480, fmt="JPEG")
    transform = TrainTransform(24, scale=(0.5, 1.0))
    differences = []
    for seed in range(6):
        rng = np.random.default_rng(seed)
        top, left, h, w = random_resized_box(640, 480, rng, scale=(0.5, 1.0))
        reference = Image.open(path).convert("RGB").crop((left, top, left + w, top + h)).resize((24, 24), Image.BILINEAR)
        if rng.random() < 0.5:
            reference = reference.transpose(Image.FLIP_LEFT_RIGHT)
        out = transform(str(path), seed).astype(float)
        differences.append(np.abs(out - np.asarray(reference, dtype=float)).mean())
    assert max(differences) < 6.0  # noise pixels averaged by DCT scaling instead of a bilinear filter


@pytest.mark.parametrize("strength", [(0.4, 0.0, 0.0), (0.0, 0.4, 0.0), (0.0, 0.0, 0.4)])
def test_jitter_is_pil_enhance_with_torchvision_factors(strength):
    image = Image.fromarray(np.random.default_rng(1).integers(0, 256, (12, 10, 3), dtype=np.uint8))
    index = strength.index(0.4)
    enhancer = (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color)[index]
    for seed in range(5):
        rng = np.random.default_rng(seed)
        rng.permutation(3)
        factor = rng.uniform(0.6, 1.4)
        expected = enhancer(image).enhance(factor)
        out = jitter(image, np.random.default_rng(seed), strength)
        np.testing.assert_array_equal(np.asarray(out), np.asarray(expected))
        assert 0.6 <= factor <= 1.4 and not math.isclose(factor, 1.0)


def test_greyscale_and_seeded(tmp_path):
    path = tmp_path / "g.jpg"
    Image.fromarray(np.full((40, 50), 128, np.uint8)).save(path)
    transform = TrainTransform(16, color_jitter=(0.4, 0.4, 0.4))
    out = transform(str(path), 3)
    assert out.shape == (16, 16, 3)
    np.testing.assert_array_equal(out, transform(str(path), 3))


def test_a_turned_photo_is_cropped_upright(tmp_path):
    from test_decode import turned_jpeg

    path = str(turned_jpeg(tmp_path / "phone.jpg", size=(64, 32)))  # shown 32 x 64: red on top, blue below
    transform = TrainTransform(8, scale=(0.99, 1.0), ratio=(0.5, 0.5))  # the whole upright image
    for seed in range(4):
        crop = transform(path, seed).astype(int)
        assert np.abs(crop[:3].mean((0, 1)) - (255, 0, 0)).max() < 30
        assert np.abs(crop[-3:].mean((0, 1)) - (0, 0, 255)).max() < 30


def test_a_file_that_is_no_image_is_one_line(tmp_path):
    (tmp_path / "notes.jpg").write_text("not an image")
    with pytest.raises(DataError, match=r"^cannot read image .*notes.jpg: not an image file Pillow can decode"):
        TrainTransform(8)(str(tmp_path / "notes.jpg"), 0)
