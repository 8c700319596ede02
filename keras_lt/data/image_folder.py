"""The image-folder layout: `<root>/<split>/<class>/<image files>`."""

import os
import stat
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from keras_lt.errors import DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
DECODING = 2  # bumped whenever `read_image` decodes a file differently (2: EXIF orientation applied)


def is_image_file(path):
    """Whether `path` is a regular file (or a link to one) with an image extension; FIFOs and devices are not."""
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
        paths += [os.path.join(class_dir, f) for f in files]
        labels += [label] * len(files)
    if not paths:
        raise DataError(f"no images under {split_dir}; expected {split}/<class>/<image files>.")
    return paths, np.asarray(labels, dtype=np.int64), class_names


def read_image(path, size=None):
    """Reads one image file as an RGB uint8 array (H, W, 3), resized to `size=(h, w)` if given.

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
            if size is not None and image.size != (size[1], size[0]):
                image = image.resize((size[1], size[0]), Image.BILINEAR)
            return np.asarray(image, dtype=np.uint8)
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise DataError(f"cannot read image {path}: {error}") from None


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
        size: `(h, w)` to resize to; None keeps the size of the images, which must then agree.

    Returns:
        `(images, labels, class_names)`.

    Example:
    >>> images, labels, names = load_image_folder("~/.cache/keras-lt/cifar10-jpeg-q75", "test")
    """
    paths, labels, class_names = list_image_folder(os.path.expanduser(root), split)
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        images = list(pool.map(lambda p: read_image(p, size), paths, chunksize=256))
    shapes = {image.shape for image in images}
    if len(shapes) > 1:
        raise DataError(
            f"images under {root}/{split} differ in size ({len(shapes)} sizes); pass an image size to resize them."
        )
    return np.stack(images), labels, class_names
