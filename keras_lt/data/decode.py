"""Opening an image file as RGB, letting the JPEG decoder shrink it by 2, 4 or 8 when that is all we need."""

import math

from keras_lt.errors import DataError


def open_rgb(path, needed=None):
    """An RGB PIL image of `path`, its JPEG shrunk by 2, 4 or 8 while decoding when `needed` allows.

    With `needed=(w, h)`, a JPEG is decoded at the smallest of 1/1, 1/2, 1/4, 1/8 scale that is still
    at least `w x h` (PIL's `draft`: the decoder drops DCT coefficients, much cheaper than decoding
    full size and resizing). Other formats decode at full size. The conversion is `convert("RGB")`,
    the ImageNet loaders' (torchvision's `pil_loader`).

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
        image = Image.open(path)
        if needed is not None and image.format == "JPEG":
            image.draft("RGB", (max(1, math.ceil(needed[0])), max(1, math.ceil(needed[1]))))
        return image.convert("RGB")
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as error:
        raise DataError(f"cannot read image {path}: {error}") from None
