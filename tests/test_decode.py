"""Tests of keras_lt.data.decode: the JPEG reduction rule, the RGB decode and its one-line errors."""

import numpy as np
import pytest
from PIL import Image
from PIL import UnidentifiedImageError

from keras_lt.data import decode
from keras_lt.data.decode import open_rgb
from keras_lt.data.decode import reduction
from keras_lt.data.decode import unreadable_image
from keras_lt.errors import DataError


@pytest.mark.parametrize(
    "size, needed, scale",
    [((500, 375), (120, 60), 4), ((500, 375), (62, 46), 8), ((500, 375), (63, 46), 4), ((500, 375), (600, 10), 1),
     ((32, 32), None, 1), ((500, 375), (249.5, 10), 2), ((500, 375), (251, 10), 1), ((16, 16), (0, 0), 8)],
)
def test_reduction_is_pils_draft_rule(size, needed, scale):
    assert reduction(*size, needed) == scale


def test_open_rgb_reduces_only_jpegs(tmp_path):
    Image.fromarray(np.zeros((64, 96, 3), np.uint8)).save(tmp_path / "a.jpg")
    Image.fromarray(np.zeros((64, 96, 3), np.uint8)).save(tmp_path / "a.png")
    image = open_rgb(tmp_path / "a.jpg", needed=(20, 10))
    assert image.mode == "RGB" and image.size == (24, 16)  # 1/4: 1/8 would be 12 < 20 wide
    assert open_rgb(tmp_path / "a.png", needed=(20, 10)).size == (96, 64)
    assert open_rgb(tmp_path / "a.jpg").size == (96, 64)
    with pytest.raises(DataError, match="cannot read image"):
        open_rgb(tmp_path / "missing.jpg")


def test_a_reduced_odd_sized_jpeg_is_ceil_of_the_scaled_size(tmp_path):
    Image.fromarray(np.full((75, 101, 3), (200, 40, 90), np.uint8)).save(tmp_path / "odd.jpg", quality=95)
    image = open_rgb(tmp_path / "odd.jpg", needed=(20, 10))  # min(101 // 20, 75 // 10) = 5: scale 4
    assert image.size == (26, 19)  # ceil(101 / 4), ceil(75 / 4)
    assert np.abs(np.asarray(image).astype(int) - (200, 40, 90)).max() <= 3  # a flat colour stays flat


def test_grey_and_rgba_files_convert_to_rgb(tmp_path):
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (5, 6), dtype=np.uint8)
    rgba = rng.integers(0, 256, (5, 6, 4), dtype=np.uint8)
    Image.fromarray(grey).save(tmp_path / "grey.png")
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    np.testing.assert_array_equal(np.asarray(open_rgb(tmp_path / "grey.png")), np.repeat(grey[..., None], 3, axis=-1))
    rgb = np.asarray(open_rgb(tmp_path / "rgba.png"))
    np.testing.assert_array_equal(rgb, rgba[..., :3])  # convert("RGB") drops the alpha, no compositing


def test_unreadable_image_messages():
    pillows = UnidentifiedImageError("cannot identify image file <_io.BufferedReader name=4>")
    unknown = unreadable_image("x/a.jpg", pillows)
    assert isinstance(unknown, DataError)
    assert str(unknown) == "cannot read image x/a.jpg: not an image file Pillow can decode; remove or replace it."
    assert str(unreadable_image("x/b.png", OSError("image file is truncated"))) == (
        "cannot read image x/b.png: image file is truncated"
    )


def test_a_missing_file_is_one_line(tmp_path):
    path = tmp_path / "missing.png"
    with pytest.raises(DataError) as error:
        open_rgb(path)
    assert str(error.value).startswith(f"cannot read image {path}: ") and "\n" not in str(error.value)
    assert error.value.__cause__ is None and error.value.__suppress_context__  # `from None`: no Pillow traceback


def test_simplejpeg_decodes_what_pil_decodes(tmp_path, monkeypatch):
    assert decode.simplejpeg is not None, "simplejpeg (keras-lt[jpeg]) is a test dependency: pip install -e '.[test]'"
    pixels = np.random.default_rng(2).integers(0, 256, (75, 101, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.jpg", quality=85)
    Image.fromarray(pixels[..., 0]).save(tmp_path / "grey.jpg", quality=85)
    for name in ("a.jpg", "grey.jpg"):
        for needed in (None, (40, 30), (12, 9), (9, 5)):
            fast = np.asarray(open_rgb(tmp_path / name, needed))
            with monkeypatch.context() as patch:
                patch.setattr(decode, "simplejpeg", None)
                slow = np.asarray(open_rgb(tmp_path / name, needed))
            assert fast.shape == slow.shape
            np.testing.assert_array_equal(fast, slow)
