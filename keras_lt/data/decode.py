"""Opening an image file as RGB, letting the JPEG decoder shrink it by 2, 4 or 8 when that is all we need.

JPEGs decode with `simplejpeg` when it is installed (`pip install keras-lt[jpeg]`: libjpeg-turbo
called directly, about 1.6x PIL's decode here, see benchmarks/streaming.py), else with PIL; both run
libjpeg-turbo's default (accurate) IDCT and upsampling at the same 1/2^k scale.
"""

import math

from keras_lt.errors import DataError

try:  # the optional fast JPEG path
    import simplejpeg
except ImportError:  # pragma: no cover - exercised where simplejpeg is absent
    simplejpeg = None

SCALES = (8, 4, 2, 1)


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


def open_rgb(path, needed=None):
    """An RGB PIL image of `path`, its JPEG shrunk by 2, 4 or 8 while decoding when `needed` allows.

    With `needed=(w, h)`, a JPEG is decoded at the smallest of 1/1, 1/2, 1/4, 1/8 scale that is still
    at least `w x h` (the decoder drops DCT coefficients, much cheaper than decoding full size and
    resizing). Other formats decode at full size. The conversion is `convert("RGB")`, the ImageNet
    loaders' (torchvision's `pil_loader`).

    Args:
        path: the image file.
        needed: `(width, height)` the decoded image must keep at least, or None for full size.

    Returns:
        The loaded RGB image (its size tells the decoded scale: `ceil(original / 2^k)`).

    Raises:
        DataError: the file is missing or not a readable image.

    Example:
    >>> image = open_rgb("train/n01440764/x.JPEG", needed=(300, 250))
    """
    from PIL import Image
    from PIL import UnidentifiedImageError

    try:
        if simplejpeg is not None:
            image = _simplejpeg_rgb(path, needed)
            if image is not None:
                return image
        image = Image.open(path)
        if image.format == "JPEG":
            scale = reduction(*image.size, needed)
            image.draft("RGB", (image.size[0] // scale, image.size[1] // scale))
        return image.convert("RGB")
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as error:
        raise unreadable_image(path, error) from None


def unreadable_image(path, error):
    """The one-line `DataError` of an image file Pillow failed on with `error`.

    A file Pillow does not recognise (a corrupt or non-image file named `*.jpg`) says so and what to
    do, instead of Pillow's "cannot identify image file <_io.BufferedReader name=4>".
    """
    from PIL import UnidentifiedImageError

    if isinstance(error, UnidentifiedImageError):
        return DataError(f"cannot read image {path}: not an image file Pillow can decode; remove or replace it.")
    return DataError(f"cannot read image {path}: {error}")


def _simplejpeg_rgb(path, needed):
    """`simplejpeg`'s RGB decode of a JPEG at `reduction`'s scale; None for anything it cannot do (CMYK, not a JPEG)."""
    from PIL import Image

    with open(path, "rb") as f:
        data = f.read()
    if not simplejpeg.is_jpeg(data):
        return None
    try:
        height, width, _, _ = simplejpeg.decode_jpeg_header(data)
        scale = reduction(width, height, needed)
        pixels = simplejpeg.decode_jpeg(data, "RGB", min_width=width // scale, min_height=height // scale)
    except ValueError:
        return None
    return Image.fromarray(pixels)
