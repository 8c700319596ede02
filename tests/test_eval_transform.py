"""Evaluation view (resize 256 + centre crop 224 scaled down) against plain PIL."""

import numpy as np
import pytest
from PIL import Image

from keras_lt.data.eval_transform import EvalTransform
from keras_lt.data.image_folder import read_image
from keras_lt.errors import DataError


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


def test_a_turned_photo_is_viewed_upright(tmp_path):
    from test_decode import turned_jpeg

    path = str(turned_jpeg(tmp_path / "phone.jpg", size=(64, 32)))  # shown 32 x 64: red on top, blue below
    view = EvalTransform(8, resize=8)(path).astype(int)  # 8 x 16, then its centre 8 x 8: the middle rows
    assert np.abs(view[:2].mean((0, 1)) - (255, 0, 0)).max() < 40
    assert np.abs(view[-2:].mean((0, 1)) - (0, 0, 255)).max() < 40
    upright = Image.fromarray(read_image(path)).resize((8, 16), Image.BILINEAR).crop((0, 4, 8, 12))
    assert np.abs(view - np.asarray(upright, dtype=int)).mean() < 12  # as read_image (predict) shows it


def test_a_file_that_is_no_image_is_one_line(tmp_path):
    (tmp_path / "notes.jpg").write_text("not an image")
    with pytest.raises(DataError, match=r"^cannot read image .*notes.jpg: not an image file Pillow can decode"):
        EvalTransform(8)(str(tmp_path / "notes.jpg"))
