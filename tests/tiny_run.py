"""Test helper: the tiny architecture, data and recipe of the tests that train whole runs.

`conftest.tiny_architecture` registers the architecture for a test session; a child process
(tests/test_crash_safety.py) calls `register()` itself. `tiny_fit` runs the callback tests' few steps;
`parameter_count` sizes the model tests' networks. `interrupted_run` leaves a run stopped after its
first epoch, and `snapshot` what a run directory holds.
"""

import dataclasses
import os

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np
import pytest
from PIL import Image

from keras_lt import callbacks as lt_callbacks
from keras_lt import run_directory
from keras_lt import training
from keras_lt.callbacks import Backup
from keras_lt.models import cifar_resnet
from keras_lt.models.registry import register_architecture
from keras_lt.recipes import load_recipe
from keras_lt.training_data import TrainingData
from interruption import interrupting_backup

TINY = "test_resnet8"
NUM_CLASSES = 3


def resnet8(num_classes, classifier="linear", input_shape=(8, 8, 3), mean=(0.5,) * 3, std=(0.25,) * 3, logit_scale=False):
    """A ResNet-8 on 8x8 images: about four times faster than ResNet-32."""
    return cifar_resnet(8, num_classes, classifier, input_shape, mean, std, logit_scale=logit_scale)


def register():
    """Registers `resnet8` as the recipe architecture "test_resnet8"."""
    register_architecture(TINY)(resnet8)


def tiny_data(seed=0):
    """24 training and 9 test 8x8 images whose dominant colour channel is the label."""
    rng = np.random.default_rng(seed)

    def split(n):
        labels = np.arange(n) % NUM_CLASSES
        images = rng.integers(0, 60, size=(n, 8, 8, 3))
        images[np.arange(n), :, :, labels] += 180
        return images.astype("uint8"), labels.astype("int64")

    return TrainingData(*split(24), *split(9), class_names=["r", "g", "b"])


def tiny_folder(root, counts=(8, 6, 4), test=True, seed=0):
    """An image folder `train/<class>/` (and `test/<class>/`: 3 a class) of 10x12 PNGs coloured by class; returns root."""
    rng = np.random.default_rng(seed)
    splits = {"train": counts, **({"test": (3,) * len(counts)} if test else {})}
    for split, split_counts in splits.items():
        for label, count in enumerate(split_counts):
            os.makedirs(os.path.join(root, split, f"c{label}"))
            for i in range(count):
                pixels = rng.integers(0, 60, (12, 10, 3))
                pixels[..., label % 3] += 180
                Image.fromarray(pixels.astype("uint8")).save(os.path.join(root, split, f"c{label}", f"{i}.png"))
    return str(root)


def tiny_recipe(**overrides):
    """The CE recipe on the tiny architecture: 2 epochs of 3 batches, a step decay after the first."""
    recipe = load_recipe("ce-resnet32-cifar10lt")
    fields = dict(
        name="tiny-ce", architecture=TINY, epochs=2, batch_size=8, warmup_epochs=1, milestones=[1], factors=[0.1]
    )
    return dataclasses.replace(recipe, **{**fields, **overrides})


def tiny_fit(callbacks, epochs=3, initial_epoch=0, loss=None, optimizer="sgd"):
    """Fits a fresh Dense(4, tanh) model (seed 0) on 16 fixed 3-d points of 4 classes, 2 steps an epoch.

    `loss` defaults to sparse cross-entropy on the outputs as logits; returns the `History`.
    """
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(4, activation="tanh")(inputs))
    model.compile(optimizer=optimizer, loss=loss or keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    y = np.arange(16) % 4
    return model.fit(x, y, batch_size=8, epochs=epochs, initial_epoch=initial_epoch, callbacks=callbacks, verbose=0)


def parameter_count(weights):
    """The number of scalars in `weights` (e.g. a model's `trainable_weights`)."""
    return sum(int(np.prod(w.shape)) for w in weights)


def interrupted_run(monkeypatch, out, recipe, data_dir=None):
    """Trains `recipe` on `data_dir` (default: `tiny_data()`) into `out`, stopped (a `KeyboardInterrupt`) once its
    epoch 0 is backed up."""
    with monkeypatch.context() as patch:
        patch.setattr(lt_callbacks, "Backup", interrupting_backup(0, base=Backup))
        with pytest.raises(KeyboardInterrupt):
            training.train(recipe, out, data_dir=data_dir, data=None if data_dir else tiny_data(), verbose=0)
    assert os.path.isdir(os.path.join(out, run_directory.BACKUP_DIR))


def snapshot(directory):
    """Every file under `directory` with its content."""
    return {path: path.read_bytes() for path in sorted(directory.rglob("*")) if path.is_file()}
