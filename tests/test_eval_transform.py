"""Evaluation view (resize 256 + centre crop 224 scaled down) and the RGB decode against plain PIL."""

import numpy as np
import pytest
from PIL import Image

from keras_lt.data.decode import open_rgb
from keras_lt.data.eval_transform import EvalTransform
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


@pytest.mark.parametrize(
    "size, needed, scale",
    [((500, 375), (120, 60), 4), ((500, 375), (62, 46), 8), ((500, 375), (63, 46), 4), ((500, 375), (600, 10), 1),
     ((32, 32), None, 1), ((500, 375), (249.5, 10), 2), ((500, 375), (251, 10), 1)],
)
def test_reduction_is_pils_draft_rule(size, needed, scale):
    from keras_lt.data.decode import reduction

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


def test_simplejpeg_decodes_what_pil_decodes(tmp_path, monkeypatch):
    from keras_lt.data import decode

    if decode.simplejpeg is None:
        pytest.skip("simplejpeg (keras-lt[jpeg]) is not installed")
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
