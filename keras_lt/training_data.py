"""The arrays of a run (`TrainingData`) and how a recipe's dataset becomes them.

`prepare_data` loads the recipe's dataset in memory or as image files to stream (`PIPELINES`),
applies its long-tail profile with the LDAM selection and holds out its validation split; an image
folder without test/ has a test split held out of its training images (`holds_out_test`), which
`held_out_test` draws again for the evaluation of a finished run. `pixel_statistics` gives the
per-channel normalisation a new network is built with.
"""

import dataclasses
import os

import numpy as np

from keras_lt.data import long_tailed_counts
from keras_lt.data import long_tailed_indices
from keras_lt.data import load_dataset
from keras_lt.data import load_image_files
from keras_lt.data.image_files import DEFAULT_IMAGE_SIZE
from keras_lt.data.image_files import ImageFiles
from keras_lt.data.image_folder import list_image_folder
from keras_lt.data.image_folder import read_images
from keras_lt.data.splits import stratified_split
from keras_lt.errors import DataError
from keras_lt.errors import KerasLTError
from keras_lt.models.resnet import IMAGENET_MEAN
from keras_lt.models.resnet import IMAGENET_STD

HOLDOUT = 0.2  # the test share held out of an image folder that has no test/ split
MIN_CLASS_IMAGES = 2  # the training images every class needs
PIPELINES = ("memory", "stream")  # in memory, or image files decoded batch by batch


@dataclasses.dataclass
class TrainingData:
    """The arrays of a run: the (long-tailed) training set, the test set and an optional validation split."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    class_names: list
    val_images: np.ndarray | None = None
    val_labels: np.ndarray | None = None

    @property
    def num_classes(self):
        return len(self.class_names)

    @property
    def class_counts(self):
        return np.bincount(self.train_labels, minlength=self.num_classes)


def prepare_data(recipe, data_dir=None):
    """Loads the recipe's dataset and applies its long-tail profile with the LDAM selection.

    With `pipeline` "stream" the images stay files (`keras_lt.data.ImageFiles`), decoded later as
    crops of `recipe.image_size` (224 if unset). In memory, images are fitted to `recipe.image_size`
    (if set) and the test split to the training size. There must be two classes or more, each
    with two training images or more; the test split must have the training classes. With
    `recipe.val_split`, that share of every class is held out of the training images for
    validation. An image folder without test/ has `held_out_test` as its test split.
    """
    load = _loader(recipe, data_dir)
    images, labels, class_names, val = _training_split(recipe, load)
    if holds_out_test(recipe.dataset, data_dir):
        print(f"{data_dir} has no test/ folder: holding out {HOLDOUT:.0%} of each class for the test metrics.")
        return _hold_out_test(recipe, images, labels, class_names, val)
    test_images, test_labels, test_names = load("test", tuple(images.shape[1:3]))
    if list(test_names) != list(class_names):
        only_test = sorted(set(test_names) - set(class_names))
        only_train = sorted(set(class_names) - set(test_names))
        raise DataError(
            f"the test split's classes differ from the training split's (only in test: {', '.join(only_test) or '-'}; "
            f"only in train: {', '.join(only_train) or '-'}); give both the same class folders."
        )
    return TrainingData(images, labels, test_images, test_labels, class_names, **val)


def holds_out_test(dataset, data_dir):
    """Whether a run on `dataset` in `data_dir` holds its test split out of its training images (no test/ folder)."""
    return dataset == "folder" and not os.path.isdir(os.path.join(os.path.expanduser(data_dir or "."), "test"))


def held_out_test(recipe, data_dir, workers=None):
    """The test split of a run on an image folder without test/, drawn again as `prepare_data` drew it.

    The held-out test split is `HOLDOUT` of every class, drawn with `recipe.seed + 1` from what the
    long-tail selection and the validation split (`recipe.val_split`, `recipe.seed`) leave of
    `train/`: the same images as long as `train/` holds the same files. The draw needs only the
    labels: with the recipe's `image_size` set (every folder recipe's), only the held-out images are
    decoded. Nothing is printed.

    Args:
        recipe: the run's recipe.
        data_dir: the image folder the run trained on.
        workers: decoding processes of streamed images (None: `keras_lt.data.image_files.default_workers()`).

    Returns:
        `(test_images, test_labels, train_class_counts)`: the images as the run's test split held them
        (an array, or `ImageFiles` for a streamed recipe) and the class counts of its training split.

    Example:
    >>> images, labels, counts = held_out_test(Recipe.from_stored(config["recipe"]), "my_photos")
    """
    size = _image_size(recipe)
    if recipe.pipeline == "stream" or size is None:  # files to stream / a common size found over all images
        data = _hold_out_test(recipe, *_training_split(recipe, _loader(recipe, data_dir, workers)))
        return data.test_images, data.test_labels, data.class_counts
    paths, labels, class_names = list_image_folder(os.path.expanduser(data_dir), "train")
    data = _hold_out_test(recipe, *_training_split(recipe, lambda _split, _size: (np.arange(len(paths)), labels,
                                                                                 class_names)))
    images = np.stack(read_images([paths[i] for i in data.test_images], size))
    return images, data.test_labels, data.class_counts


def _loader(recipe, data_dir, workers=None):
    """`load(split, size)` -> `(images, labels, class_names)`: files to stream, or arrays fitted to `size`."""
    if recipe.pipeline == "stream":
        side = _stream_side(recipe)
        return lambda split, size: load_image_files(recipe.dataset, split, data_dir, side, workers)
    return lambda split, size: load_dataset(recipe.dataset, split, data_dir, image_size=size)


def _image_size(recipe):
    """The recipe's `image_size` as `(h, w)`, or None."""
    size = recipe.image_size
    return None if size is None else tuple(size) if isinstance(size, list) else (size, size)


def _training_split(recipe, load):
    """`(images, labels, class_names, val)`: the training split after the long-tail selection, less `val`'s split.

    `load(split, size)` gives `(images, labels, class_names)`; images only need indexing (an array of
    indices serves `held_out_test`).
    """
    images, labels, class_names = load("train", _image_size(recipe))
    if len(class_names) < 2:
        raise DataError(
            f"the training split has {len(class_names)} class ({', '.join(class_names)}); a classifier needs at "
            "least 2: add a class folder."
        )
    counts = np.bincount(labels, minlength=len(class_names))
    if counts.min() < MIN_CLASS_IMAGES:
        raise DataError(
            f"class '{class_names[int(counts.argmin())]}' has {counts.min()} training image(s); every class needs at "
            f"least {MIN_CLASS_IMAGES} (add images or remove the class folder)."
        )
    if recipe.imbalance_factor:
        keep = long_tailed_indices(labels, _long_tailed_counts(recipe, counts, class_names), recipe.selection_seed)
        images, labels = images[keep], labels[keep]
    if not recipe.val_split:
        return images, labels, class_names, {}
    kept, held = stratified_split(labels, recipe.val_split, recipe.seed)
    return images[kept], labels[kept], class_names, {"val_images": images[held], "val_labels": labels[held]}


def _long_tailed_counts(recipe, counts, class_names):
    """The class counts of the recipe's long-tail profile on training `counts`; one `DataError` line unless they fit.

    The profile (`keras_lt.data.long_tailed_counts`) takes the largest class's count for the first class,
    and fewer for each next one: a class must have as many, and keep `MIN_CLASS_IMAGES`.
    """
    factor, largest = recipe.imbalance_factor, int(counts.max())
    wanted = long_tailed_counts(len(class_names), largest, factor)
    for name, want, have in zip(class_names, wanted, counts):
        if want > have:
            raise DataError(
                f"imbalance factor {factor:g} asks for {want} training images of class '{name}', which has {have}: the "
                "long-tail profile is drawn from balanced data (--imbalance-factor 0 keeps the data's own counts)."
            )
        if want < MIN_CLASS_IMAGES:
            most = largest // MIN_CLASS_IMAGES
            while min(long_tailed_counts(len(class_names), largest, most)) < MIN_CLASS_IMAGES:
                most -= 1  # the profile's counts are rounded down
            raise DataError(
                f"imbalance factor {factor:g} leaves class '{name}' {want} of its {have} training images, and every "
                f"class needs at least {MIN_CLASS_IMAGES}; use a factor of at most {most} (--imbalance-factor 0 keeps "
                "the data's own counts)."
            )
    return wanted


def _hold_out_test(recipe, images, labels, class_names, val):
    """`TrainingData` whose test split is `HOLDOUT` of every class of the training images (seed `recipe.seed + 1`)."""
    kept, held = stratified_split(labels, HOLDOUT, recipe.seed + 1)
    return TrainingData(images[kept], labels[kept], images[held], labels[held], class_names, **val)


def _stream_side(recipe):
    """The side of a streamed recipe's square crops: `image_size` as an int or `[s, s]`, else 224."""
    size = recipe.image_size
    if size is None:
        return DEFAULT_IMAGE_SIZE
    if isinstance(size, int):
        return size
    if len(size) != 2 or size[0] != size[1]:
        raise KerasLTError(f"recipe {recipe.name}: streamed images are square crops; give image_size as one side, not {size}.")
    return int(size[0])


def pixel_statistics(images):
    """Per-channel `(mean, std)` in 0..1 that the model normalises with.

    Those of the training images for an array; ImageNet's for image files (what every ImageNet-LT,
    Places-LT and iNaturalist recipe normalises with; a pass over the files would cost an epoch).
    """
    if isinstance(images, ImageFiles):
        return list(IMAGENET_MEAN), list(IMAGENET_STD)
    pixels = images.reshape(-1, images.shape[-1])
    return (pixels.mean(0) / 255.0).tolist(), (pixels.std(0) / 255.0).tolist()
