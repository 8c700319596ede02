"""The image-folder layout: `<root>/<split>/<class>/<image files>`."""

import os
import stat
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from keras_lt.data.decode import unreadable_image
from keras_lt.errors import DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
DECODING = 2  # bumped whenever `read_image` decodes a file differently (2: EXIF orientation applied)
RESIZING = "fit-1"  # bumped whenever `fit_image` resizes differently (1: shorter side, then centre crop)


def is_image_file(path):
    """Whether `path` is a regular file (or a link to one) with an image extension; FIFOs and devices are not.

    Args:
        path: a file path.

    Example:
    >>> is_image_file("train/cat/0001.jpg")
    True
    """
    return path.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(path)


def list_image_folder(root, split):
    """Lists `(paths, labels, class_names)` of `<root>/<split>/<class>/*`, classes sorted by name.

    Args:
        root: the dataset directory.
        split: the sub-directory to read, e.g. "train" or "test".

    Returns:
        Paths sorted by file name within each class, their integer labels, and the class names.
    """
    split_dir = os.path.join(root, split)
    if not os.path.isdir(split_dir):
        raise DataError(f"no '{split}' folder in {root}; an image folder needs {split}/<class>/<images>.")
    class_names = sorted(
        d for d in os.listdir(split_dir) if os.path.isdir(os.path.join(split_dir, d))
    )
    paths, labels = [], []
    for label, name in enumerate(class_names):
        class_dir = os.path.join(split_dir, name)
        files = sorted(f for f in os.listdir(class_dir) if is_image_file(os.path.join(class_dir, f)))
        if not files:
            raise DataError(f"class folder {class_dir} holds no image files; add images or remove the folder.")
        paths += [os.path.join(class_dir, f) for f in files]
        labels += [label] * len(files)
    if not paths:
        raise DataError(f"no images under {split_dir}; expected {split}/<class>/<image files>.")
    return paths, np.asarray(labels, dtype=np.int64), class_names


def fit_image(image, size):
    """The resize policy of every command: scale the shorter side to cover `size=(h, w)`, then centre-crop.

    The aspect ratio is kept (nothing is stretched); an image already of `size`, or `size=None`,
    is returned as it is. Train, decouple, evaluate and predict all read images through this.

    Args:
        image: a PIL image.
        size: `(h, w)`, or None.

    Returns:
        The PIL image of `size`.

    Example:
    >>> fit_image(Image.new("RGB", (40, 28)), (32, 32)).size
    (32, 32)
    """
    from PIL import Image

    if size is None or image.size == (size[1], size[0]):
        return image
    height, width = size
    scale = max(height / image.height, width / image.width)
    scaled = (max(width, round(image.width * scale)), max(height, round(image.height * scale)))
    image = image.resize(scaled, Image.BILINEAR)
    left, top = (scaled[0] - width) // 2, (scaled[1] - height) // 2
    return image.crop((left, top, left + width, top + height))


def read_image(path, size=None):
    """Reads one image file as an RGB uint8 array (H, W, 3), fitted to `size=(h, w)` if given (`fit_image`).

    Any mode is accepted (grey, 16-bit grey, palette, RGBA, CMYK); 16-bit values keep their high
    byte (as torchvision converts them) and transparency is composited on white. The EXIF
    orientation (a phone's rotated JPEG) is applied, so the image is upright. Only regular files
    are opened (a FIFO named `*.jpg` would block), and an image of more pixels than Pillow's
    `Image.MAX_IMAGE_PIXELS` (about 89 million; a decompression bomb is a small file that decodes to
    gigabytes) is refused before it is decoded.

    Raises:
        DataError: the file is missing, not a regular file, too large, truncated or not an image.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with _open_regular(path) as file, Image.open(file) as image:
            limit = Image.MAX_IMAGE_PIXELS  # Pillow's bomb limit: it raises past twice this, we past it
            if limit and image.width * image.height > limit:
                raise DataError(f"cannot read image {path}: {image.width} x {image.height} pixels, more than {limit}")
            image.load()
            ImageOps.exif_transpose(image, in_place=True)
            if image.mode.startswith("I"):  # 16-bit grey ("I;16*", or "I" on older Pillow)
                image = Image.fromarray((np.asarray(image).clip(0, 65535) >> 8).astype(np.uint8))
            if image.mode in ("RGBA", "LA") or "transparency" in image.info:
                rgba = image.convert("RGBA")
                image = Image.new("RGB", rgba.size, (255, 255, 255))
                image.paste(rgba, mask=rgba.getchannel("A"))
            else:
                image = image.convert("RGB")
            return np.asarray(fit_image(image, size), dtype=np.uint8)
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise unreadable_image(path, error) from None


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


def load_image_folder(root, split, size=None):
    """Decodes every image of `<root>/<split>/<class>/*` into one uint8 NHWC array.

    Args:
        root: the dataset directory.
        split: "train" or "test" (any sub-directory name).
        size: `(h, w)` to fit the images to (`fit_image`); None keeps their size if they agree,
            else fits them all to their most common size.

    Returns:
        `(images, labels, class_names)`.

    Example:
    >>> images, labels, names = load_image_folder("~/.cache/keras-lt/cifar10-jpeg-q75", "test")
    """
    paths, labels, class_names = list_image_folder(os.path.expanduser(root), split)
    images = read_images(paths, size)
    shapes = Counter(image.shape[:2] for image in images)
    if len(shapes) > 1:
        common = shapes.most_common(1)[0][0]
        print(
            f"images under {root}/{split} differ in size ({len(shapes)} sizes); fitting them to the most common, "
            f"{common[0]}x{common[1]} (shorter side, then centre crop).",
            file=sys.stderr,
        )
        images = read_images(paths, common)
    return np.stack(images), labels, class_names


def read_images(paths, size=None):
    """`read_image` of every path, in a thread per core (Pillow decodes without the GIL); a list of arrays.

    Example:
    >>> images = np.stack(read_images(["a.jpg", "b.png"], (32, 32)))
    """
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        return list(pool.map(lambda path: read_image(path, size), paths, chunksize=256))
