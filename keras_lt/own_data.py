"""Your own image folder: a recipe that fits it, and a zoo recipe fitted to it."""

import dataclasses
import os
import re
from collections import Counter

import numpy as np

from keras_lt import losses
from keras_lt.data.decode import image_size
from keras_lt.data.image_folder import list_image_folder
from keras_lt.data.split_files import SPLIT_FILES
from keras_lt.data.split_files import find_split_file
from keras_lt.errors import DataError
from keras_lt.recipes import Recipe
from keras_lt.recipes import load_recipe

SOURCE_CLASSES = {"cifar10": 10, "cifar100": 100}  # the balanced sources the zoo recipes were written for
SMALL_IMAGES = 64  # up to this side: the CIFAR ResNet-32; larger: ResNet-50
LARGEST_DEFAULT = 224  # a folder of larger images trains at 224x224 unless --image-size says otherwise
FOLDER_SCHEDULE = "short30"  # the schedule of a recipe made from an image folder, unless one is asked for
CPMIX_RECIPE = "cpmix-resnet32-cifar10lt"  # the zoo's CP-Mix recipe, whose switch a CP-Mix without one takes


def is_image_folder(data_dir):
    """Whether `data_dir` is an image folder (`train/<class>/<images>`)."""
    return data_dir is not None and os.path.isdir(os.path.join(os.path.expanduser(data_dir), "train"))


def has_split_files(dataset, data_dir):
    """Whether `data_dir` holds the training split file of `dataset`, a split-file benchmark.

    ImageNet-LT's image root is ImageNet's, whose `train/<class>/` folders make it look like an
    image folder: with the split file there, the recipe's benchmark is what it means.
    """
    if dataset not in SPLIT_FILES:
        return False
    try:
        find_split_file(dataset, "train", os.path.expanduser(data_dir))
    except DataError:
        return False
    return True


def folder_class_counts(data_dir):
    """`(class_names, counts)` of `<data_dir>/train`, from the listing (nothing is decoded)."""
    _, labels, names = list_image_folder(os.path.expanduser(data_dir), "train")
    return names, np.bincount(labels, minlength=len(names))


def default_image_size(data_dir):
    """The most common size of the training images as shown (upright, from their headers), at most 224x224.

    Example:
    >>> default_image_size("my_photos")
    [32, 32]
    """
    paths, _, _ = list_image_folder(os.path.expanduser(data_dir), "train")
    sizes = Counter()
    for path in paths:
        try:
            width, height = image_size(path)
        except DataError:
            continue  # reading the images names the file
        sizes[(height, width)] += 1
    if not sizes:
        raise DataError(f"no readable image under {data_dir}/train.")
    height, width = sizes.most_common(1)[0][0]
    if max(height, width) > LARGEST_DEFAULT:
        return [LARGEST_DEFAULT, LARGEST_DEFAULT]
    return [height, width]


def default_classifier(loss):
    """The classifier a recipe of `loss` gets unless it names one: "cosine" for the losses defined on cosine logits.

    Those are `keras_lt.losses.COSINE_LOSSES` (LDAM, KPS: NormedLinear in their official codes);
    the others get "linear".

    Example:
    >>> default_classifier("ldam"), default_classifier("bs")
    ('cosine', 'linear')
    """
    return "cosine" if losses.canonical_name(loss) in losses.COSINE_LOSSES else "linear"


def with_cpmix_switch(recipe):
    """A "cpmix" method without its `cpmix_epoch` switched on where the zoo's CP-Mix recipe switches it.

    Without `cpmix_epoch` CP-Mix never starts and the run is plain ERM; the CLI's `--method cpmix`
    cannot set it. `CPMIX_RECIPE` starts CP-Mix at epoch 200 of 300; the recipe gets that epoch
    scaled to its own epochs as `keras_lt.recipes.Recipe.with_epochs` scales it (20 of 30).

    Returns:
        `(recipe, note)`: the recipe with its `cpmix_epoch` and a line saying what was chosen, or
        the recipe as it is and None (another method, or a `cpmix_epoch` given).

    Example:
    >>> recipe, note = with_cpmix_switch(recipe_for_folder("my_photos", method="cpmix"))
    >>> recipe.cpmix_epoch
    20
    """
    if recipe.method != "cpmix" or recipe.cpmix_epoch is not None:
        return recipe, None
    zoo = load_recipe(CPMIX_RECIPE)
    start = zoo.with_epochs(recipe.epochs)[0].cpmix_epoch
    note = (
        f"CP-Mix starts at epoch {start} of {recipe.epochs} (cpmix_epoch: {zoo.name} starts it at "
        f"{zoo.cpmix_epoch} of {zoo.epochs})."
    )
    return dataclasses.replace(recipe, cpmix_epoch=start), note


def recipe_for_folder(data_dir, image_size=None, schedule=FOLDER_SCHEDULE, **fields):
    """A recipe for an image folder, its defaults taken from the data, on `schedule` (`FOLDER_SCHEDULE` unless given).

    The image size is the folder's most common (`default_image_size`) unless given; the
    architecture the CIFAR ResNet-32 up to 64 pixels a side, else ResNet-50; the classifier the
    one the loss is defined on (`default_classifier`: cosine for LDAM and KPS); the recipe is named
    `<loss>-<architecture>-<folder name>`. The folder's class counts are kept as they are.

    Args:
        data_dir: the image folder.
        image_size: `[h, w]`, or None for the data's.
        schedule: "full" (the `Recipe` defaults: 200 epochs) or a named short schedule (`keras_lt.recipes.SCHEDULES`).
        **fields: other `Recipe` fields (method, loss, epochs, batch_size, lr, seed, ...).

    Returns:
        The `Recipe`.

    Example:
    >>> recipe = recipe_for_folder("my_photos", loss="balanced_softmax")
    """
    size = list(image_size) if image_size else default_image_size(data_dir)
    architecture = "resnet32" if max(size) <= SMALL_IMAGES else "resnet50"
    folder = re.sub(r"[^A-Za-z0-9._-]+", "-", os.path.basename(os.path.normpath(data_dir))).strip("-.") or "data"
    loss = fields.get("loss", "ce")
    base = Recipe(
        name=f"{loss}-{fields.get('architecture', architecture)}-{folder}".lower(), dataset="folder",
        imbalance_factor=None, architecture=architecture, classifier=default_classifier(loss), image_size=size,
    ).scaled(schedule)
    return dataclasses.replace(base, **fields)


def fit_recipe_to_folder(recipe, data_dir, imbalance_factor=None):
    """A zoo recipe given with an image folder: the user's class counts kept, unless asked otherwise.

    The recipe's long-tail selection is applied only where the folder is the balanced source the
    recipe was written for (as many classes as its dataset, all of the same count), or when
    `imbalance_factor` asks for one; otherwise the recipe trains on the folder as it is, and its
    card names the folder.

    Args:
        recipe: the recipe.
        data_dir: the data directory (an image folder; anything else leaves the recipe as it is).
        imbalance_factor: a long-tail profile to apply to the folder, or None.

    Returns:
        `(recipe, note)`: the fitted recipe and a line saying what was done with the class counts.

    Example:
    >>> recipe, note = fit_recipe_to_folder(load_recipe("ce-resnet32-cifar10lt"), "my_photos")
    """
    if imbalance_factor is not None:
        recipe = dataclasses.replace(recipe, imbalance_factor=imbalance_factor or None)
    if not is_image_folder(data_dir) or has_split_files(recipe.dataset, data_dir):
        return recipe, None
    names, counts = folder_class_counts(data_dir)
    is_source = len(names) == SOURCE_CLASSES.get(recipe.dataset) and len(set(counts.tolist())) == 1
    if is_source and recipe.imbalance_factor:
        return recipe, f"{data_dir} is balanced {recipe.dataset}-sized data: applying the recipe's imbalance factor {recipe.imbalance_factor:g}."
    recipe = dataclasses.replace(recipe, dataset="folder", imbalance_factor=imbalance_factor or None)
    if recipe.imbalance_factor:
        return recipe, f"applying imbalance factor {recipe.imbalance_factor:g} to {data_dir} as asked."
    return recipe, f"training on {data_dir} as it is: {len(names)} classes, {counts.max()} ... {counts.min()} images per class."
