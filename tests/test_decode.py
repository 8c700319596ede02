"""Tests of keras_lt.data.decode: the JPEG reduction rule, the one RGB conversion of every pipeline, one-line errors."""

import warnings

import numpy as np
import pytest
from PIL import Image
from PIL import UnidentifiedImageError

from keras_lt.data import decode
from keras_lt.data.decode import image_size
from keras_lt.data.decode import decode_rgb
from keras_lt.data.decode import open_image
from keras_lt.data.decode import reduction
from keras_lt.data.decode import unreadable_image
from keras_lt.data.image_folder import read_image
from keras_lt.errors import DataError


def open_rgb(path, needed=None):
    """`path` opened and decoded as the streamed transforms do: the header once, then `decode_rgb`."""
    with open_image(path) as image:
        return decode_rgb(image, path, needed)


@pytest.mark.parametrize(
    "size, needed, scale",
    [((500, 375), (120, 60), 4), ((500, 375), (62, 46), 8), ((500, 375), (63, 46), 4), ((500, 375), (600, 10), 1),
     ((32, 32), None, 1), ((500, 375), (249.5, 10), 2), ((500, 375), (251, 10), 1), ((16, 16), (0, 0), 8)],
)
def test_reduction_is_pils_draft_rule(size, needed, scale):
    assert reduction(*size, needed) == scale


def test_decode_rgb_reduces_only_jpegs(tmp_path):
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
    rgb = np.asarray(open_rgb(tmp_path / "rgba.png")).astype(float)
    alpha = rgba[..., 3:] / 255.0
    assert np.abs(rgb - (rgba[..., :3] * alpha + 255.0 * (1.0 - alpha))).max() <= 1.0  # on white, as read_image


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


def turned_jpeg(path, size=(32, 16), orientation=6):
    """A JPEG stored `size` (w, h) with a red left and blue right half, and an EXIF orientation; returns path.

    Orientation 6 ("rotate 90 degrees clockwise to view", as a phone held upright writes it) shows
    it `h x w`, red on top.
    """
    width, height = size
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[:, : width // 2] = (255, 0, 0)
    pixels[:, width // 2:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(pixels).save(path, exif=exif, quality=95)
    return path


def special_images(root):
    """{name: path} of images whose conversion to 8-bit RGB is more than `convert("RGB")`."""
    ramp = np.linspace(0, 1, 24 * 20).reshape(24, 20)
    Image.fromarray((ramp * 65535).astype(np.uint16)).save(root / "grey16.png")
    Image.fromarray((ramp * 65535).astype(np.int32)).save(root / "int32.tif")
    Image.fromarray(ramp.astype(np.float32)).save(root / "float01.tif")
    Image.fromarray((ramp * 400 - 50).astype(np.float32)).save(root / "float255.tif")
    rgba = np.zeros((24, 20, 4), np.uint8)
    rgba[..., 0], rgba[:12, :, 3] = 200, 255  # red, the lower half transparent
    Image.fromarray(rgba, "RGBA").save(root / "rgba.png")
    return {path.stem: path for path in sorted(root.iterdir())} | {"turned": turned_jpeg(root / "turned.jpg")}


@pytest.mark.parametrize("fast", [True, False])  # simplejpeg, or PIL
def test_decode_rgb_decodes_what_read_image_decodes(tmp_path, monkeypatch, fast):
    """The streamed pipeline's decode and `read_image` (in memory, predict) give the same pixels."""
    if not fast:
        monkeypatch.setattr(decode, "simplejpeg", None)
    for name, path in special_images(tmp_path).items():
        np.testing.assert_array_equal(np.asarray(open_rgb(path)), read_image(path), err_msg=name)
    images = {name: read_image(path).astype(float) for name, path in special_images(tmp_path).items()}
    ramp = np.linspace(0, 1, 24 * 20).reshape(24, 20)
    for name in ("grey16", "int32", "float01"):  # 0..65535 high byte, 0..1 scaled: the ramp, not white or black
        assert np.abs(images[name][..., 0] - ramp * 255).max() <= 1, name
    assert np.abs(images["float255"][..., 0] - (ramp * 400 - 50).clip(0, 255)).max() <= 1  # above 1: clipped
    np.testing.assert_array_equal(images["rgba"][0, 0], (200, 0, 0))
    np.testing.assert_array_equal(images["rgba"][-1, -1], (255, 255, 255))  # transparent: white
    assert images["turned"].shape == (32, 16, 3) and images["turned"][:14, :, 0].min() > 200  # upright, red on top


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_a_turned_jpeg_is_reduced_by_its_upright_size(tmp_path, monkeypatch, fast, orientation):
    if not fast:
        monkeypatch.setattr(decode, "simplejpeg", None)
    path = turned_jpeg(tmp_path / "turned.jpg", size=(64, 32), orientation=orientation)
    upright = (64, 32) if orientation == 3 else (32, 64)
    assert image_size(path) == upright
    np.testing.assert_array_equal(np.asarray(open_rgb(path)), read_image(path))
    reduced = open_rgb(path, needed=(upright[0] // 4, upright[1] // 4))
    assert reduced.size == (upright[0] // 4, upright[1] // 4)  # 1/4 of each upright side
    full = np.asarray(open_rgb(path).resize(reduced.size, Image.BILINEAR)).astype(int)
    assert np.abs(np.asarray(reduced).astype(int) - full).mean() < 12  # turned the same way


def test_image_size_of_a_file_that_is_no_image_is_one_line(tmp_path):
    (tmp_path / "notes.jpg").write_text("not an image")
    with pytest.raises(DataError) as error:
        image_size(tmp_path / "notes.jpg")
    path = tmp_path / "notes.jpg"
    assert str(error.value) == f"cannot read image {path}: not an image file Pillow can decode; remove or replace it."


@pytest.mark.parametrize("read", [read_image, open_rgb, image_size])
def test_an_image_past_pillows_limit_is_refused_in_one_line_without_a_warning(tmp_path, read):
    from test_image_folder import png_header_only

    path = png_header_only(tmp_path / "bomb.png", 10000, 10000)  # 100 M pixels: Pillow only warns
    with warnings.catch_warnings(record=True) as shown:
        with pytest.raises(DataError) as error:
            read(path)
    assert not shown
    assert str(error.value) == (
        f"cannot read image {path}: 10000 x 10000 pixels, more than Pillow's limit of {Image.MAX_IMAGE_PIXELS} "
        "(a decompression bomb?); shrink it or remove it."
    )
    beyond = f"cannot read image {{}}: more pixels than Pillow's limit of {Image.MAX_IMAGE_PIXELS} (a decompression bomb?); "
    beyond += "shrink it or remove it."
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # where warnings are errors, Pillow's is the same line
        with pytest.raises(DataError) as error:
            read(path)
    assert str(error.value) == beyond.format(path)
    huge = png_header_only(tmp_path / "huge.png", 20000, 20000)  # past twice the limit: Pillow refuses it as it opens
    with pytest.raises(DataError) as error:
        read(huge)
    assert str(error.value) == beyond.format(huge)


@pytest.mark.parametrize("fast", [True, False])
def test_a_jpeg_with_more_pictures_is_reduced_as_a_jpeg(tmp_path, monkeypatch, fast):
    """An MPO (a JPEG followed by more pictures: many phones' photos) is a JPEG to PIL and simplejpeg."""
    if not fast:
        monkeypatch.setattr(decode, "simplejpeg", None)
    first = Image.fromarray(np.full((64, 96, 3), 120, np.uint8))
    first.save(tmp_path / "phone.jpg", format="MPO", save_all=True, append_images=[Image.new("RGB", (8, 8))])
    assert Image.open(tmp_path / "phone.jpg").format == "MPO"
    assert open_rgb(tmp_path / "phone.jpg", needed=(20, 10)).size == (24, 16)
