"""Test helper: `keras-lt` commands run in-process, the tiny checkpoint they are given and images for it.

The `tiny` fixture is imported by the test files that use it (`from cli_run import tiny`).
"""

import os

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import keras_lt
from keras_lt.cli.main import cli

CLASSES = ["ant", "bee", "cat"]
TRAIN_COUNTS = [200, 50, 5]  # many, medium, few
SIZE = 8  # the tiny model's input is 8x8
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A ResNet-32 with an 8x8 input saved as a checkpoint; returns (model, directory)."""
    model = keras_lt.models.resnet32(len(CLASSES), input_shape=(SIZE, SIZE, 3))
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


def expected_probabilities(model, path):
    """Softmax of the model's logits for one image, read and fitted here with PIL directly (shorter side, centre crop)."""
    with Image.open(path) as image:
        if image.mode == "RGBA":
            background = Image.new("RGB", image.size, (255, 255, 255))
            background.paste(image, mask=image.getchannel("A"))
            image = background
        scale = SIZE / min(image.size)
        width, height = max(SIZE, round(image.width * scale)), max(SIZE, round(image.height * scale))
        left, top = (width - SIZE) // 2, (height - SIZE) // 2
        fitted = image.convert("RGB").resize((width, height), Image.BILINEAR)
        pixels = np.asarray(fitted.crop((left, top, left + SIZE, top + SIZE)))
    logits = np.asarray(model.predict(pixels[None], verbose=0), dtype=np.float64)[0]
    exp = np.exp(logits - logits.max())
    return exp / exp.sum()
