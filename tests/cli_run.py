"""Test helper: `keras-lt` commands run in-process, the tiny checkpoint they are given and images for it.

The `tiny` fixture is imported by the test files that use it (`from cli_run import tiny`).
"""

import os

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import keras_lt  # first: it selects the torch backend before keras is imported
import keras
from keras_lt.cli.main import cli

CLASSES = ["ant", "bee", "cat"]
TRAIN_COUNTS = [200, 50, 5]  # many, medium, few
SIZE = 8  # the tiny model's input is 8x8
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# (width, height) of the tests' images: a fitted image is the smoother the larger it was, which moves the logits.
CALIBRATION_SIZES = ((8, 8), (10, 10), (12, 9), (16, 16), (30, 20), (40, 40))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A ResNet-32 with an 8x8 input (`untrained_resnet32`) saved as a checkpoint; returns (model, directory)."""
    model = untrained_resnet32(len(CLASSES), (SIZE, SIZE, 3))
    directory = str(tmp_path_factory.mktemp("checkpoints") / "tiny")
    keras_lt.save_pretrained(
        model,
        directory,
        class_names=CLASSES,
        train_class_counts=TRAIN_COUNTS,
        dataset={"name": "folder", "title": "Tiny-LT"},
        metrics={"top1": 42.5, "top5": 100.0, "many": 50.0, "medium": 40.0, "few": 30.0},
    )
    return model, directory


def untrained_resnet32(num_classes, input_shape, images=None):
    """A ResNet-32 of seed 0 whose classifier is rescaled so its logits on `images` are O(1) and image-dependent.

    As initialised, its logits on random images are tens to hundreds, most of it shared by every
    image: each image gets the same class with probability 1.0, so a test would not see labels
    scored wrongly or a logit adjustment of either sign. Here each class's logit is standardised
    (mean 0, standard deviation 1) over `images`, by default random images (as `write_image` draws
    them) of the sizes the tests give, fitted to the input as the commands fit them: classes then
    differ from image to image, probabilities are far from 0 and 1, and a log prior of a few nats
    moves predictions. The model returned is the one to save: its classifier holds the new weights.
    """
    keras.utils.set_random_seed(0)
    model = keras_lt.models.resnet32(num_classes, input_shape=input_shape)
    if images is None:
        rng = np.random.default_rng(0)
        images = np.stack([
            fit(Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)), input_shape[0])
            for width, height in CALIBRATION_SIZES for _ in range(16)
        ])
    return standardise_logits(model, images)


def standardise_logits(model, images):
    """Rescales and shifts `model`'s "classifier" (a Dense) so each class's logit has mean 0 and std 1 over `images`."""
    logits = np.asarray(model.predict(images, verbose=0), dtype=np.float64)
    mean, std = logits.mean(axis=0), logits.std(axis=0)
    classifier = model.get_layer("classifier")
    classifier.kernel.assign((np.asarray(classifier.kernel) / std).astype("float32"))
    classifier.bias.assign(((np.asarray(classifier.bias) - mean) / std).astype("float32"))
    return model


def run(*args):
    """`keras-lt ARGS` in-process; a traceback in its output fails the test."""
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert "Traceback" not in result.output + result.stderr
    return result


def assert_one_line_error(result):
    """The command failed with one `Error: ...` line on stderr."""
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr


def write_image(path, mode, size, seed=0):
    """A random image of `mode` ("RGB", "L", "RGBA", "P") and `size` (w, h), format from the suffix."""
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    rgb = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    rgb.convert(mode).save(path)
    return str(path)


def write_folder(root, counts, size=(10, 10), classes=CLASSES):
    """An image folder `<root>/<split>/<class>/<i>.png` of random RGB PNGs of `size` (w, h); returns `root`.

    `counts` maps each split to its images per class, in the order of `classes`; image i of class
    `label` has the seed `10 * label + i` (in every split).
    """
    for split, split_counts in counts.items():
        for label, (name, count) in enumerate(zip(classes, split_counts, strict=True)):
            for i in range(count):
                write_image(root / split / name / f"{i}.png", "RGB", size, seed=10 * label + i)
    return root


def fit(image, side=SIZE):
    """`side x side` RGB pixels of a PIL image as the commands fit it (shorter side, centre crop), here with PIL."""
    scale = side / min(image.size)
    width, height = max(side, round(image.width * scale)), max(side, round(image.height * scale))
    left, top = (width - side) // 2, (height - side) // 2
    fitted = image.convert("RGB").resize((width, height), Image.BILINEAR)
    return np.asarray(fitted.crop((left, top, left + side, top + side)))


def expected_probabilities(model, path):
    """Softmax of the model's logits for one image, read and fitted here with PIL directly (`fit`; RGBA on white)."""
    with Image.open(path) as image:
        if image.mode == "RGBA":
            background = Image.new("RGB", image.size, (255, 255, 255))
            background.paste(image, mask=image.getchannel("A"))
            image = background
        pixels = fit(image)
    logits = np.asarray(model.predict(pixels[None], verbose=0), dtype=np.float64)[0]
    exp = np.exp(logits - logits.max())
    return exp / exp.sum()
