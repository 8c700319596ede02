"""Evaluation view (resize 256 + centre crop 224 scaled down) against plain PIL."""

import numpy as np
from PIL import Image

from keras_lt.data.eval_transform import EvalTransform


def test_resize_and_centre_crop_of_a_png(tmp_path):
    path = tmp_path / "a.png"
    pixels = np.random.default_rng(0).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    # 32 -> resize 37 (32 * 256 / 224 = 36.6); short side 60 -> 37, long 80 -> int(37 * 80 / 60) = 49;
    # centre crop left round(17 / 2) = 8, top round(5 / 2) = 2 (Python rounds halves to even, as torchvision).
    reference = Image.fromarray(pixels).resize((49, 37), Image.BILINEAR).crop((8, 2, 40, 34))
    out = EvalTransform(32)(str(path))
    np.testing.assert_array_equal(out, np.asarray(reference))
    assert EvalTransform(224).resize == 256


def test_portrait_jpeg_is_decoded_reduced_and_centred(tmp_path):
    path = tmp_path / "p.jpg"
    Image.fromarray(np.full((400, 200, 3), 90, np.uint8)).save(path, quality=95)
    out = EvalTransform(16, resize=20)(str(path))
    assert out.shape == (16, 16, 3) and np.abs(out.astype(int) - 90).max() <= 2
