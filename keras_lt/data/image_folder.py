"""The image-folder layout: `<root>/<split>/<class>/<image files>`."""

import os
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from keras_lt.data.decode import open_image
from keras_lt.data.decode import to_rgb
from keras_lt.errors import DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
DECODING = 3  # bumped whenever `read_image` decodes a file differently (2: EXIF orientation; 3: float images)
RESIZING = "fit-1"  # bumped whenever `fit_image` resizes differently (1: shorter side, then centre crop)


def is_hidden(name):
    """Whether a file or folder name is left out of image folders: hidden (".x", macOS's "._x.jpg") or "__MACOSX"."""
    return name.startswith(".") or name == "__MACOSX"


def is_image_file(path):
    """Whether `path` is a regular file (or a link to one) with an image extension and a name that is not hidden.

    FIFOs and devices are not, nor hidden files (`is_hidden`: macOS's `._0.jpg` holds no image).

    Args:
        path: a file path.

    Example:
    >>> is_image_file("train/cat/0001.jpg"), is_image_file("train/cat/._0001.jpg")
    (True, False)
    """
    return (
        path.lower().endswith(IMAGE_EXTENSIONS) and not is_hidden(os.path.basename(path)) and os.path.isfile(path)
    )


def image_files_under(folder, skipped=None):
    """The image files under `folder`, recursively: its own by name, then each subfolder's, subfolders by name.

    Links to folders are followed, each folder once (a link back to a folder already searched is
    not, so a loop ends). Hidden files and folders (`is_hidden`: `.ipynb_checkpoints/`, `._0.jpg`,
    `__MACOSX/`) and files without an image extension are left out.

    Args:
        folder: the folder to search.
        skipped: `skipped(path, why)` is called for each entry left out that may have been meant
            as an image or a folder of images: a broken link, a FIFO or device named like an
            image, a folder that cannot be listed or was already searched. None: left out silently.

    Returns:
        The image file paths, in that order.

    Example:
    >>> image_files_under("photos", skipped=lambda path, why: print(f"skipped: {path}: {why}"))
    """
    skipped = skipped or (lambda path, why: None)
    searched = set()

    def first_search(path):
        try:
            status = os.stat(path)
        except OSError as error:
            skipped(path, f"cannot open it ({error.strerror})")
            return False
        if (status.st_dev, status.st_ino) in searched:
            skipped(path, "a link to a folder already searched")
            return False
        searched.add((status.st_dev, status.st_ino))
        return True

    def unlistable(error):
        skipped(error.filename, f"cannot list it ({error.strerror})")

    files = []
    if not first_search(folder):
        return files
    for parent, subfolders, names in os.walk(folder, onerror=unlistable, followlinks=True):
        subfolders[:] = [d for d in sorted(subfolders) if not is_hidden(d) and first_search(os.path.join(parent, d))]
        for path in (os.path.join(parent, name) for name in sorted(names) if not is_hidden(name)):
            if is_image_file(path):
                files.append(path)
            elif not os.path.exists(path):
                skipped(path, "a broken link (what it points to does not exist)")
            elif path.lower().endswith(IMAGE_EXTENSIONS):
                skipped(path, "not a regular file")
    return files


def list_image_folder(root, split):
    """Lists `(paths, labels, class_names)` of `<root>/<split>/<class>/...`, classes sorted by name.

    A class holds the image files under its folder, in its subfolders too (`image_files_under`, as
    torchvision's `ImageFolder`); hidden entries (`is_hidden`) are left out, folders and files alike.

    Args:
        root: the dataset directory.
        split: the sub-directory to read, e.g. "train" or "test".

    Returns:
        The paths of each class in `image_files_under`'s order, their integer labels, and the class names.

    Raises:
        DataError: no such split, a class folder without images or whose name is not UTF-8.
    """
    split_dir = os.path.join(root, split)
    if not os.path.isdir(split_dir):
        raise DataError(f"no '{split}' folder in {root}; an image folder needs {split}/<class>/<images>.")
    class_names = sorted(
        d for d in os.listdir(split_dir) if not is_hidden(d) and os.path.isdir(os.path.join(split_dir, d))
    )
    paths, labels = [], []
    for label, name in enumerate(class_names):
        class_dir = os.path.join(split_dir, name)
        _check_utf8_name(class_dir, name)
        files = image_files_under(class_dir)
        if not files:
            raise DataError(f"class folder {class_dir} holds no image files; add images or remove the folder.")
        paths += files
        labels += [label] * len(files)
    if not paths:
        raise DataError(f"no images under {split_dir}; expected {split}/<class>/<image files>.")
    return paths, np.asarray(labels, dtype=np.int64), class_names


def _check_utf8_name(class_dir, name):
    """A `DataError` for a class folder whose name is not UTF-8: a class name is shown, and stored in JSON."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(class_dir).decode("utf-8", "backslashreplace")  # the bytes that are not: \xe9
        raise DataError(
            f"class folder {shown}: its name is not UTF-8 text; rename it (it becomes the class name)."
        ) from None


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

    Any mode is accepted and converted as every pipeline converts it (`keras_lt.data.decode.to_rgb`:
    upright, 16-bit and float images scaled to 8 bits, transparency on white). Only regular files
    are opened, and images larger than Pillow's limit are refused before they are decoded
    (`keras_lt.data.decode.open_image`).

    Raises:
        DataError: the file is missing, not a regular file, too large, truncated or not an image.
    """
    with open_image(path) as image:
        return np.asarray(fit_image(to_rgb(image), size), dtype=np.uint8)


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
