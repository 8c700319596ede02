"""Test helper: the AFR and PGD tests' tiny network and long-tailed colour data (tests/test_afr*.py, test_pgd.py).

`tiny_model` builds `tiny_run.TINY`, which the `tiny_architecture` fixture (conftest.py) registers.
"""

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np

from keras_lt import models
from tiny_run import TINY

COUNTS = (24, 10, 6)


def tiny_model(seed=0, num_classes=len(COUNTS)):
    keras.utils.set_random_seed(seed)
    return models.build({"name": TINY, "num_classes": num_classes})


def colour_data(counts=COUNTS, seed=0):
    """8x8 images whose dominant colour channel is the label, long-tailed."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(counts)), counts)
    images = rng.integers(0, 90, (len(labels), 8, 8, 3))
    images[np.arange(len(labels)), :, :, labels] += 160
    images[:3] = 0  # black and white images: PGD must keep them in 0..255
    images[3:5] = 255
    return images.astype(np.uint8), labels
