"""Opening an image file as RGB, letting the JPEG decoder shrink it by 2, 4 or 8 when that is all we need."""

import math

from keras_lt.errors import DataError


def open_rgb(path, needed=None):
    """An RGB PIL image of `path` and the factor its JPEG was shrunk by while decoding (1 if not).

    With `needed=(w, h)`, a JPEG is decoded at the smallest of 1/1, 1/2, 1/4, 1/8 scale that is still
    at least `w x h` (PIL's `draft`: the decoder drops DCT coefficients, much cheaper than decoding
    full size and resizing). Other formats decode at full size. The conversion is `convert("RGB")`,
    the ImageNet loaders' (torchvision's `pil_loader`).

    Args:
        path: the image file.
        needed: `(width, height)` the decoded image must keep at least, or None for full size.

    Returns:
        `(image, scale)`: the loaded RGB image and `original width / decoded width`.

    Raises:
        DataError: the file is missing or not a readable image.

    Example:
    >>> image, scale = open_rgb("train/n01440764/x.JPEG", needed=(300, 250))
    """
    from PIL import Image
    from PIL import UnidentifiedImageError

    try:
        image = Image.open(path)
        width = image.size[0]
        if needed is not None and image.format == "JPEG":
            image.draft("RGB", (max(1, math.ceil(needed[0])), max(1, math.ceil(needed[1]))))
        rgb = image.convert("RGB")
        return rgb, width / rgb.size[0]
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as error:
        raise DataError(f"cannot read image {path}: {error}") from None
