"""Opening image files as upright 8-bit RGB, JPEGs shrunk by 2, 4 or 8 while decoding when that is all we need.

Every pipeline reads images through `open_image` and converts them with `to_rgb`, so a model sees
the same pixels whether it was trained in memory, streamed, evaluated or asked to predict.

JPEGs decode with `simplejpeg` when it is installed (`pip install keras-lt[jpeg]`: libjpeg-turbo
called directly, about 1.6x PIL's decode here, see benchmarks/streaming.py), else with PIL; both run
libjpeg-turbo's default (accurate) IDCT and upsampling at the same 1/2^k scale.
"""

import contextlib
import math
import os
import stat
import warnings

import numpy as np

from keras_lt.errors import DataError

try:  # the optional fast JPEG path
    import simplejpeg
except ImportError:  # pragma: no cover - exercised where simplejpeg is absent
    simplejpeg = None

SCALES = (8, 4, 2, 1)
ORIENTATION = 0x0112  # the EXIF orientation tag
JPEG_FORMATS = ("JPEG", "MPO")  # MPO: a JPEG with more pictures after it (a phone's depth or gain map)
SIDEWAYS = (5, 6, 7, 8)  # orientations of an image stored turned by 90 degrees: its width and height swap


def reduction(width, height, needed):
    """The largest of 8, 4, 2, 1 that keeps `width x height` at least `needed` (PIL's `draft` rule); 1 to enlarge.

    Example:
    >>> reduction(500, 375, (120, 60))  # decoded at 125 x 94
    4
    """
    if needed is None:
        return 1
    fits = min(width // max(1, math.ceil(needed[0])), height // max(1, math.ceil(needed[1])))
    return next((scale for scale in SCALES if fits >= scale), 1)


@contextlib.contextmanager
def open_image(path):
    """The PIL image of `path` with only its header read, for a `with` block; errors in the block are one line.

    Only regular files are opened (a FIFO named `*.jpg` would block), and an image of more pixels
    than Pillow's `Image.MAX_IMAGE_PIXELS` (about 89 million, 268 MB as RGB; a decompression bomb is
    a small file that decodes to gigabytes) is refused before anything is decoded. Pillow's errors
    while the block decodes the image (a truncated file) become a `DataError` naming the file.

    Args:
        path: the image file.

    Raises:
        DataError: the file is missing, not a regular file, too large, truncated or not an image.

    Example:
    >>> with open_image("train/cat/0001.jpg") as image:
    ...     width, height = upright_size(image)
    """
    from PIL import Image
    from PIL import UnidentifiedImageError

    _hide_bomb_warning()
    try:
        with _open_regular(path) as file, Image.open(file) as image:
            limit = Image.MAX_IMAGE_PIXELS  # Pillow raises past twice this and warns past it; we refuse past it
            if limit and image.width * image.height > limit:
                raise DataError(
                    f"cannot read image {path}: {image.width} x {image.height} pixels, more than Pillow's limit of "
                    f"{limit} (a decompression bomb?); shrink it or remove it."
                )
            yield image
    except DataError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):  # the warning: a filter made it an error
        raise DataError(
            f"cannot read image {path}: more pixels than Pillow's limit of {Image.MAX_IMAGE_PIXELS} (a decompression "
            "bomb?); shrink it or remove it."
        ) from None
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as error:
        raise unreadable_image(path, error) from None


def _hide_bomb_warning():
    """Hides Pillow's `DecompressionBombWarning` in this process: `open_image` refuses every image it warns of.

    The filter goes last, so one set before it still applies (`-W error`: the warning is raised,
    and `open_image` gives its one line), and is set again if a `warnings.catch_warnings()` block
    has dropped it.
    """
    from PIL import Image

    if ("ignore", None, Image.DecompressionBombWarning, None, 0) not in warnings.filters:
        warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning, append=True)


def _open_regular(path):
    """Opens `path` for reading if it is a regular file (without blocking on a FIFO); else a DataError."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise DataError(f"cannot read image {path}: not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def orientation(image):
    """The EXIF orientation (1 to 8) in the header of an opened image; 1 (upright) when it has none.

    Nothing is decoded: a PNG's EXIF placed after its pixels, which Pillow finds only by decoding
    them, is not looked for (PNG readers need not honour it there), by `upright_size` and
    `to_rgb` alike.
    """
    if image.format == "PNG" and "exif" not in image.info:
        return 1
    return image.getexif().get(ORIENTATION, 1)


def upright_size(image):
    """`(width, height)` of an opened image as it is shown: after its EXIF orientation (`orientation`)."""
    width, height = image.size
    return (height, width) if orientation(image) in SIDEWAYS else (width, height)


def image_size(path):
    """`(width, height)` of the image file `path` as it is shown (`upright_size`), from its header alone.

    Raises:
        DataError: the file is not a readable image (`open_image`).

    Example:
    >>> image_size("phone/rotated.jpg")  # stored 40 x 30, EXIF "rotate 90"
    (30, 40)
    """
    with open_image(path) as image:
        return upright_size(image)


def to_rgb(image):
    """An 8-bit RGB image of an opened PIL image of any mode, upright: the one conversion of every pipeline.

    The EXIF orientation is applied (`orientation`: a phone's turned JPEG comes out upright).
    Integer grey images, 16-bit ("I;16*") or 32-bit ("I"), keep the high byte of their 16-bit
    values (as torchvision converts them; values outside 0..65535 clipped). Float grey images ("F",
    a scientific TIFF) are read as 0..1 when no value exceeds 1, and scaled to 0..255; else as
    0..255, clipped (NaN is 0). Transparency (an alpha channel, a palette's or a colour's) is
    composited on white. Any other mode (grey, palette, CMYK, YCbCr, ...) is `convert("RGB")`, what
    torchvision's `pil_loader` does.

    Args:
        image: a PIL image, as `open_image` gives it (decoded here) or decoded; it may be changed.

    Returns:
        The RGB PIL image.

    Example:
    >>> with open_image("scan.tif") as image:
    ...     pixels = np.asarray(to_rgb(image))  # (H, W, 3) uint8
    """
    from PIL import Image
    from PIL import ImageOps

    if orientation(image) != 1:
        ImageOps.exif_transpose(image, in_place=True)
    if image.mode.startswith("I") or image.mode == "F":
        image = Image.fromarray(_grey_bytes(image))
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        image = Image.new("RGB", rgba.size, (255, 255, 255))
        image.paste(rgba, mask=rgba.getchannel("A"))
        return image
    return image.convert("RGB")


def _grey_bytes(image):
    """The uint8 pixels of an integer ("I;16*", "I") or float ("F") grey image, as `to_rgb` reads them."""
    if image.mode != "F":
        return (np.asarray(image).astype(np.int64).clip(0, 65535) >> 8).astype(np.uint8)
    pixels = np.nan_to_num(np.asarray(image, dtype=np.float64))
    if pixels.max(initial=0.0) <= 1.0:
        pixels = pixels * 255.0
    return np.rint(pixels.clip(0.0, 255.0)).astype(np.uint8)


def decode_rgb(image, path, needed=None):
    """An upright RGB PIL image (`to_rgb`) of an image opened by `open_image`, its JPEG shrunk by 2, 4 or 8 while decoding.

    Called inside `open_image`'s `with` block, after the caller has read the size it needs from
    the header (`upright_size`): the file is opened once. With `needed=(w, h)` (of the upright
    image), a JPEG is decoded at the smallest of 1/1, 1/2, 1/4, 1/8 scale that is still at least
    `w x h` (the decoder drops DCT coefficients, much cheaper than decoding full size and
    resizing). Other formats decode at full size. A JPEG stored turned (EXIF orientation) is
    decoded by PIL, then turned upright at the decoded scale.

    Args:
        image: the PIL image `open_image(path)` gives.
        path: its file (simplejpeg decodes from it).
        needed: `(width, height)` the decoded image must keep at least, or None for full size.

    Returns:
        The loaded RGB image (its size tells the decoded scale: `ceil(original / 2^k)`).

    Example:
    >>> with open_image(path) as opened:
    ...     width, height = upright_size(opened)
    ...     image = decode_rgb(opened, path, needed=(width // 3, height // 3))
    """
    if image.format in JPEG_FORMATS:
        turn = orientation(image)
        stored = needed[::-1] if needed is not None and turn in SIDEWAYS else needed
        scale = reduction(*image.size, stored)
        if simplejpeg is not None and turn == 1:
            fast = _simplejpeg_rgb(path, scale)
            if fast is not None:
                return fast
        image.draft("RGB", (image.size[0] // scale, image.size[1] // scale))
    return to_rgb(image)


def unreadable_image(path, error):
    """The one-line `DataError` of an image file Pillow failed on with `error`.

    A file Pillow does not recognise (a corrupt or non-image file named `*.jpg`) says so and what to
    do, instead of Pillow's "cannot identify image file <_io.BufferedReader name=4>".
    """
    from PIL import UnidentifiedImageError

    if isinstance(error, UnidentifiedImageError):
        return DataError(f"cannot read image {path}: not an image file Pillow can decode; remove or replace it.")
    return DataError(f"cannot read image {path}: {error}")


def _simplejpeg_rgb(path, scale):
    """`simplejpeg`'s RGB decode of a JPEG at 1/`scale`; None for anything it cannot do (CMYK, not a JPEG)."""
    from PIL import Image

    with open(path, "rb") as f:
        data = f.read()
    if not simplejpeg.is_jpeg(data):
        return None
    try:
        height, width, _, _ = simplejpeg.decode_jpeg_header(data)
        pixels = simplejpeg.decode_jpeg(data, "RGB", min_width=width // scale, min_height=height // scale)
    except ValueError:
        return None
    return Image.fromarray(pixels)
