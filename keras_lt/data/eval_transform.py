"""The standard ImageNet evaluation view of one image file: resize the short side, centre crop."""

import numpy as np

from keras_lt.data.decode import decode_rgb
from keras_lt.data.decode import open_image
from keras_lt.data.decode import upright_size


class EvalTransform:
    """Decodes one image file as `Resize(resize)` + `CenterCrop(size)` (torchvision, bilinear, PIL).

    The short side becomes `resize` (the long side `int(resize * long / short)`), then the central
    `size x size` box is cut (top-left `round((side - size) / 2)`), of the image upright (after its
    EXIF orientation: `upright_size`, read from the header of the file opened once). A JPEG is
    decoded at the smallest 1/2^k scale that still covers the resized image (`decode_rgb`). An unreadable file is a one-line `DataError`. Deterministic:
    `seed` is ignored (it keeps the training transform's signature).

    Args:
        size: side of the centre crop (224).
        resize: the short side before cropping (256 for 224).

    Example:
    >>> view = EvalTransform(224, 256)("val/n01440764/x.JPEG")  # (224, 224, 3) uint8
    """

    def __init__(self, size, resize=None):
        self.size = int(size)
        self.resize = int(resize) if resize is not None else round(self.size * 256 / 224)

    def __call__(self, path, seed=None):
        from PIL import Image

        with open_image(path) as opened:  # the header once: the resize from its size, then the decode
            width, height = upright_size(opened)
            if width <= height:
                new = (self.resize, int(self.resize * height / width))
            else:
                new = (int(self.resize * width / height), self.resize)
            image = decode_rgb(opened, path, needed=new)
        if image.size != new:
            image = image.resize(new, Image.BILINEAR)
        left = int(round((new[0] - self.size) / 2.0))
        top = int(round((new[1] - self.size) / 2.0))
        image = image.crop((left, top, left + self.size, top + self.size))
        return np.asarray(image, dtype=np.uint8)
