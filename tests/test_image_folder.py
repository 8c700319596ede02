"""Image-folder decoding: every PIL mode to RGB uint8, ordering, labels, and one-line errors."""

import os
import struct
import threading
import zlib

import numpy as np
import pytest
from PIL import Image
from test_decode import open_rgb

from keras_lt.data.image_folder import list_image_folder
from keras_lt.data.image_folder import fit_image
from keras_lt.data.image_folder import image_files_under
from keras_lt.data.image_folder import load_image_folder
from keras_lt.data.image_folder import read_image
from keras_lt.errors import DataError

RNG = np.random.default_rng(0)


def rgb(h=6, w=5):
    return RNG.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def test_rgb_and_grey(tmp_path):
    pixels = rgb()
    Image.fromarray(pixels).save(tmp_path / "rgb.png")
    np.testing.assert_array_equal(read_image(tmp_path / "rgb.png"), pixels)
    grey = pixels[..., 0]
    Image.fromarray(grey).save(tmp_path / "grey.png")
    image = read_image(tmp_path / "grey.png")
    assert image.dtype == np.uint8 and image.shape == (6, 5, 3)
    np.testing.assert_array_equal(image, np.repeat(grey[..., None], 3, axis=-1))


def test_rgba_is_composited_on_white(tmp_path):
    pixels = rgb()
    alpha = RNG.integers(0, 256, size=(6, 5), dtype=np.uint8)
    alpha[0, 0], alpha[0, 1] = 0, 255
    Image.fromarray(np.dstack([pixels, alpha]), "RGBA").save(tmp_path / "rgba.png")
    a = alpha[..., None].astype(np.float64) / 255.0
    expected = pixels * a + 255.0 * (1.0 - a)
    image = read_image(tmp_path / "rgba.png")
    assert image.dtype == np.uint8
    assert np.abs(image.astype(np.float64) - expected).max() <= 1.0  # PIL rounds the blend
    np.testing.assert_array_equal(image[0, 0], [255, 255, 255])
    np.testing.assert_array_equal(image[0, 1], pixels[0, 1])


def test_palette_with_and_without_transparency(tmp_path):
    palette = RNG.integers(0, 256, size=(16, 3), dtype=np.uint8)
    indices = RNG.integers(0, 16, size=(6, 5), dtype=np.uint8)
    indices[0, 0] = 3
    image = Image.fromarray(indices, "P")
    image.putpalette(palette.ravel().tolist())
    image.save(tmp_path / "palette.png")
    np.testing.assert_array_equal(read_image(tmp_path / "palette.png"), palette[indices])
    image.info["transparency"] = 3  # palette entry 3 fully transparent
    image.save(tmp_path / "palette_t.png", transparency=3)
    expected = palette[indices]
    expected[indices == 3] = 255
    np.testing.assert_array_equal(read_image(tmp_path / "palette_t.png"), expected)


def test_sixteen_bit_grey_keeps_the_high_byte(tmp_path):
    values = RNG.integers(0, 65536, size=(6, 5)).astype(np.uint16)
    values[0, :2] = (0, 65535)
    Image.fromarray(values).save(tmp_path / "grey16.png")
    image = read_image(tmp_path / "grey16.png")
    np.testing.assert_array_equal(image, np.repeat((values >> 8).astype(np.uint8)[..., None], 3, axis=-1))


def test_resize(tmp_path):
    Image.fromarray(np.full((20, 10, 3), 77, np.uint8)).save(tmp_path / "flat.png")
    image = read_image(tmp_path / "flat.png", size=(8, 4))
    assert image.shape == (8, 4, 3)
    np.testing.assert_array_equal(image, 77)  # any interpolation keeps a flat image flat


@pytest.mark.parametrize("content", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n\x00\x00"])
def test_unreadable_files_are_one_line_data_errors(tmp_path, content):
    path = tmp_path / "broken.png"
    path.write_bytes(content)
    with pytest.raises(DataError, match="cannot read image .*broken.png") as error:
        read_image(path)
    assert "\n" not in str(error.value)
    with pytest.raises(DataError, match="missing.png"):
        read_image(tmp_path / "missing.png")


@pytest.mark.parametrize("read", [read_image, open_rgb])
def test_a_file_that_is_no_image_says_what_to_do(tmp_path, read):
    """Pillow's "cannot identify image file <_io.BufferedReader name=4>" becomes what is wrong and what to do."""
    path = tmp_path / "corrupt.jpg"
    path.write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(DataError) as error:
        read(path)
    assert str(error.value) == f"cannot read image {path}: not an image file Pillow can decode; remove or replace it."


def test_truncated_file(tmp_path):
    Image.fromarray(rgb(32, 32)).save(tmp_path / "full.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "full.png").read_bytes()[:200])
    with pytest.raises(DataError, match="cannot read image") as error:
        read_image(tmp_path / "cut.png")
    assert "\n" not in str(error.value)


def write_folder(root, split, layout, size=(4, 4)):
    """Writes `root/split/<class>/<file>` for {class: [file names]}; returns {path: pixels}."""
    written = {}
    for name, files in layout.items():
        os.makedirs(root / split / name, exist_ok=True)
        for file in files:
            os.makedirs(os.path.dirname(root / split / name / file), exist_ok=True)
            pixels = RNG.integers(0, 256, size=(*size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / split / name / file)
            written[str(root / split / name / file)] = pixels
    return written


def test_order_labels_and_class_names(tmp_path):
    layout = {"zebra": ["b.png", "a.png"], "ant": ["10.png", "2.png", "1.bmp"], "moth": ["x.png"]}
    written = write_folder(tmp_path, "train", layout)
    (tmp_path / "train" / "ant" / "notes.txt").write_text("not an image")
    (tmp_path / "train" / "README").write_text("a file, not a class")
    images, labels, names = load_image_folder(str(tmp_path), "train")
    assert names == ["ant", "moth", "zebra"]
    order = [("ant", "1.bmp"), ("ant", "10.png"), ("ant", "2.png"), ("moth", "x.png"), ("zebra", "a.png"),
             ("zebra", "b.png")]
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, [0, 0, 0, 1, 2, 2])
    assert images.dtype == np.uint8 and images.shape == (6, 4, 4, 3)
    for image, (name, file) in zip(images, order):
        np.testing.assert_array_equal(image, written[str(tmp_path / "train" / name / file)])
    paths, _, _ = list_image_folder(str(tmp_path), "train")
    assert [tuple(p.split(os.sep)[-2:]) for p in paths] == order


def test_mixed_sizes_are_fitted_to_the_most_common(tmp_path, capsys):
    write_folder(tmp_path, "train", {"a": ["1.png", "2.png"]}, size=(4, 4))
    write_folder(tmp_path, "train", {"b": ["1.png"]}, size=(5, 3))
    images, labels, _ = load_image_folder(str(tmp_path), "train")
    assert images.shape == (3, 4, 4, 3)
    assert "fitting them to the most common, 4x4" in capsys.readouterr().err
    images, labels, _ = load_image_folder(str(tmp_path), "train", size=(6, 6))
    assert images.shape == (3, 6, 6, 3)


def test_fit_image_scales_the_shorter_side_then_centre_crops():
    wide = np.zeros((10, 20, 3), np.uint8)
    wide[:, 5:15] = 255  # the centre half is white
    fitted = np.asarray(fit_image(Image.fromarray(wide), (4, 4)))
    assert fitted.shape == (4, 4, 3)
    assert fitted.min() > 200  # the crop kept the centre, nothing was squeezed in from the sides
    grey = Image.fromarray(np.full((6, 3), 7, np.uint8))
    assert np.asarray(fit_image(grey.convert("RGB"), (4, 8))).shape == (4, 8, 3)


def test_missing_split_or_images(tmp_path):
    with pytest.raises(DataError, match="no 'test' folder in"):
        load_image_folder(str(tmp_path), "test")
    os.makedirs(tmp_path / "test" / "empty_class")
    with pytest.raises(DataError, match="class folder .*empty_class holds no image files"):
        load_image_folder(str(tmp_path), "test")


def png_header_only(path, width, height):
    """A PNG that declares `width` x `height` 1-bit pixels and holds none: a few dozen bytes."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    return path


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("side", [30000, 10000])  # 900 M pixels (Pillow raises); 100 M (Pillow only warns)
def test_a_decompression_bomb_is_refused_before_decoding(tmp_path, side):
    with pytest.raises(DataError, match="cannot read image .*bomb.png") as error:
        read_image(png_header_only(tmp_path / "bomb.png", side, side))
    assert "\n" not in str(error.value)


def test_a_fifo_named_like_an_image_is_neither_listed_nor_waited_on(tmp_path):
    write_folder(tmp_path, "train", {"a": ["1.png"]})
    os.mkfifo(tmp_path / "train" / "a" / "2.jpg")
    os.mkdir(tmp_path / "train" / "a" / "3.png")  # a directory with an image's name
    paths, _, _ = list_image_folder(str(tmp_path), "train")
    assert [os.path.basename(p) for p in paths] == ["1.png"]
    errors = []

    def read():
        try:
            read_image(tmp_path / "train" / "a" / "2.jpg")
        except DataError as error:
            errors.append(str(error))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=10)
    assert errors and "not a regular file" in errors[0]


def test_the_exif_orientation_is_applied(tmp_path):
    pixels = np.zeros((16, 32, 3), np.uint8)
    pixels[:, :16] = (255, 0, 0)  # stored: red left half, blue right half
    pixels[:, 16:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view", as a phone held upright writes it
    Image.fromarray(pixels).save(tmp_path / "phone.jpg", exif=exif, quality=95)
    image = read_image(tmp_path / "phone.jpg").astype(int)
    assert image.shape == (32, 16, 3)  # upright: the left half is now on top
    assert np.abs(image[:14].mean((0, 1)) - (255, 0, 0)).max() < 20
    assert np.abs(image[18:].mean((0, 1)) - (0, 0, 255)).max() < 20


def test_an_unreadable_file_is_named_once(tmp_path):
    os.mkfifo(tmp_path / "fifo.jpg")
    with pytest.raises(DataError) as error:
        read_image(tmp_path / "fifo.jpg")
    assert str(error.value) == f"cannot read image {tmp_path / 'fifo.jpg'}: not a regular file"


def test_images_in_subfolders_of_a_class_are_its_images(tmp_path):
    write_folder(tmp_path, "train", {"a": ["2.png", "1.png", "sub/z/1.png", "sub/0.png", "b/9.png"], "b": ["1.png"]})
    paths, labels, names = list_image_folder(str(tmp_path), "train")
    assert names == ["a", "b"]
    relative = [os.path.relpath(path, tmp_path / "train") for path in paths]
    assert relative == ["a/1.png", "a/2.png", "a/b/9.png", "a/sub/0.png", "a/sub/z/1.png", "b/1.png"]
    np.testing.assert_array_equal(labels, [0, 0, 0, 0, 0, 1])


def test_hidden_files_and_folders_are_left_out(tmp_path):
    write_folder(tmp_path, "train", {"a": ["0.jpg"], "b": ["0.png"], ".ipynb_checkpoints": ["0.png"],
                                     "__MACOSX": ["0.png"], "a/.cache": ["1.png"]})
    (tmp_path / "train" / "a" / "._0.jpg").write_bytes(b"\x00\x05\x16\x07 AppleDouble")  # macOS's resource fork
    paths, labels, names = list_image_folder(str(tmp_path), "train")
    assert names == ["a", "b"]
    assert [os.path.relpath(path, tmp_path / "train") for path in paths] == ["a/0.jpg", "b/0.png"]
    assert load_image_folder(str(tmp_path), "train")[0].shape == (2, 4, 4, 3)


def test_image_files_under_follows_linked_folders_once_and_says_what_it_skips(tmp_path):
    write_folder(tmp_path, "photos", {"a": ["1.png"], "b": ["2.png"]})
    write_folder(tmp_path, "elsewhere", {"c": ["3.png"]})
    root = tmp_path / "photos"
    os.symlink(tmp_path / "elsewhere" / "c", root / "a" / "linked")  # a linked folder: searched
    os.symlink(root, root / "a" / "loop")  # a link back up: not searched again (no loop)
    os.symlink(root / "b", root / "a" / "twin")  # a second way to b: searched once
    os.symlink(root / "missing.png", root / "a" / "broken.png")
    os.symlink(root / "gone", root / "a" / "gone")
    os.mkfifo(root / "a" / "pipe.jpg")
    (root / "a" / "notes.txt").write_text("not an image")
    skipped = []
    found = image_files_under(str(root), skipped=lambda path, why: skipped.append((os.path.relpath(path, root), why)))
    assert [os.path.relpath(path, root) for path in found] == ["a/1.png", "a/linked/3.png", "b/2.png"]
    assert skipped == [
        ("a/loop", "a link to a folder already searched"),
        ("a/twin", "a link to a folder already searched"),
        ("a/broken.png", "a broken link (what it points to does not exist)"),
        ("a/gone", "a broken link (what it points to does not exist)"),
        ("a/pipe.jpg", "not a regular file"),
    ]
    assert image_files_under(str(root)) == found  # without `skipped`: left out silently


def test_a_class_folder_whose_name_is_not_utf8_is_one_line(tmp_path):
    write_folder(tmp_path, "train", {"a": ["1.png"]})
    os.makedirs(os.fsencode(tmp_path / "train") + b"/caf\xe9")
    with pytest.raises(DataError) as error:
        list_image_folder(str(tmp_path), "train")
    assert str(error.value) == (
        f"class folder {tmp_path / 'train'}/caf\\xe9: its name is not UTF-8 text; rename it (it becomes the class name)."
    )


def test_float_and_32_bit_grey_images_are_scaled_to_8_bits(tmp_path):
    ramp = np.linspace(0, 1, 6 * 5).reshape(6, 5)
    Image.fromarray(ramp.astype(np.float32)).save(tmp_path / "float.tif")  # 0..1: was all black
    Image.fromarray((ramp * 65535).astype(np.int32)).save(tmp_path / "int32.tif")
    for name in ("float.tif", "int32.tif"):
        image = read_image(tmp_path / name)
        assert image.dtype == np.uint8 and image.shape == (6, 5, 3)
        assert np.abs(image[..., 0].astype(float) - ramp * 255).max() <= 1, name
