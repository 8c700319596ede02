"""The standard ImageNet training augmentation of one image file: random-resized crop, flip, colour jitter."""

import math

import numpy as np

from keras_lt.data.decode import decode_rgb
from keras_lt.data.decode import open_image
from keras_lt.data.decode import upright_size


def random_resized_box(width, height, rng, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
    """torchvision's `RandomResizedCrop.get_params`: `(top, left, h, w)` of a random box of the image.

    Up to 10 tries of an area share `~ U(scale)` and a log aspect ratio `~ U(log ratio)`, with
    `w = round(sqrt(area * aspect))`, `h = round(sqrt(area / aspect))`; the first that fits is
    placed uniformly. None fitting, the central box cut to the ratio bounds.

    Args:
        width: image width.
        height: image height.
        rng: a `numpy.random.Generator`.
        scale: range of the box's share of the image area.
        ratio: range of its aspect ratio (width / height).

    Returns:
        `(top, left, h, w)` ints.

    Example:
    >>> random_resized_box(500, 375, np.random.default_rng(0))
    """
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        h, w = height, int(round(height * max(ratio)))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def jitter(image, rng, strength):
    """torchvision's `ColorJitter(brightness, contrast, saturation)` of a PIL image (hue 0).

    The three operations in a random order, each with a factor `~ U(1 - s, 1 + s)`, applied by
    PIL's `ImageEnhance` (what torchvision does to PIL images).

    Args:
        image: an RGB PIL image.
        rng: a `numpy.random.Generator`.
        strength: `(brightness, contrast, saturation)`.

    Returns:
        The jittered PIL image.

    Example:
    >>> jitter(image, np.random.default_rng(0), (0.4, 0.4, 0.4))
    """
    from PIL import ImageEnhance

    enhancers = (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color)
    for index in rng.permutation(3):
        s = strength[index]
        if s:
            image = enhancers[index](image).enhance(rng.uniform(1 - s, 1 + s))
    return image


class TrainTransform:
    """Decodes one image file into a training crop: random-resized crop, horizontal flip, optional jitter.

    `RandomResizedCrop(size)` (scale 0.08..1, ratio 3/4..4/3, bilinear) + `RandomHorizontalFlip()`
    (+ `ColorJitter(0.4, 0.4, 0.4)` with `color_jitter`), as torchvision does them to PIL images,
    with the draws from `numpy.random.default_rng(seed)`: one seed per image, so a crop is the same
    whichever worker or rank makes it. Speed: the file is opened once, the box drawn from the size
    in its header (upright, after its EXIF orientation: `upright_size`), then a JPEG is decoded at
    the smallest 1/2^k scale that keeps the box at least `size` pixels (`decode_rgb`), and the box
    is resized from there (PIL `resize(box=...)`); at full scale it is `crop(box).resize(size)`,
    bit-identical to torchvision for an image without an EXIF orientation (torchvision's
    `pil_loader` ignores it; we turn the image upright, as every keras-lt pipeline does, so that
    a phone photo is seen as it is shown: a deliberate departure, for those files only). The result
    is uint8 HWC: the float conversion and normalisation happen inside the model, on the device.
    An unreadable file is a one-line `DataError`.

    Args:
        size: side of the square crop.
        color_jitter: `(brightness, contrast, saturation)` strengths, or None for no jitter.
        scale: range of the box's share of the image area.
        ratio: range of its aspect ratio.

    Example:
    >>> crop = TrainTransform(224)("train/n01440764/x.JPEG", seed=7)  # (224, 224, 3) uint8
    """

    def __init__(self, size, color_jitter=None, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
        self.size = int(size)
        self.color_jitter = None if color_jitter is None else tuple(color_jitter)
        self.scale = tuple(scale)
        self.ratio = tuple(ratio)

    def __call__(self, path, seed):
        from PIL import Image

        rng = np.random.default_rng(seed)
        with open_image(path) as opened:  # the header once: the box from its size, then the decode
            width, height = upright_size(opened)
            top, left, h, w = random_resized_box(width, height, rng, self.scale, self.ratio)
            flip = rng.random() < 0.5
            image = decode_rgb(opened, path, needed=(width * self.size / w, height * self.size / h))
        box = (left, top, left + w, top + h)
        if image.size == (width, height):
            image = image.crop(box).resize((self.size, self.size), Image.BILINEAR)
        else:  # decoded at 1/2^k: the box in its coordinates (the last row and column may be partial)
            sx, sy = width / image.size[0], height / image.size[1]
            box = (left / sx, top / sy, min((left + w) / sx, image.size[0]), min((top + h) / sy, image.size[1]))
            image = image.resize((self.size, self.size), Image.BILINEAR, box=box)
        if flip:
            image = image.transpose(Image.FLIP_LEFT_RIGHT)
        if self.color_jitter is not None:
            image = jitter(image, rng, self.color_jitter)
        return np.asarray(image, dtype=np.uint8)
