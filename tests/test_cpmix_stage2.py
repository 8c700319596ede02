"""Tests keras_lt.trainers.cpmix_stage2: the classifier fine-tune on frozen features, its cosine lr, cRT."""

import csv

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np
import pytest

from keras_lt.data.pipeline import DeviceBatches
from keras_lt.errors import KerasLTError
from keras_lt.trainers import STAGE2
from keras_lt.trainers import cpmix_finetune
from test_cpmix import noise_data

TINY = "test_resnet8"  # registered by the tiny_architecture fixture (conftest.py)
pytestmark = pytest.mark.usefixtures("tiny_architecture")


def built_network(seed=0):
    """The tiny ResNet as `keras_lt.models.build` makes it (stage 2 rebuilds from its architecture)."""
    keras.utils.set_random_seed(seed)
    return keras_lt.models.build({"name": TINY, "num_classes": 3})


def randomised_statistics(network, seed=1):
    """Non-trivial BN running statistics and classifier bias, so "frozen" is a real check."""
    rng = np.random.default_rng(seed)
    for layer in network.layers:
        if hasattr(layer, "moving_mean"):
            layer.moving_mean.assign(rng.normal(0, 0.1, layer.moving_mean.shape))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, layer.moving_variance.shape))
    network.get_layer("classifier").bias.assign(rng.normal(0, 1, 3))
    return network


def weights(model):
    return {v.path: np.array(v.numpy()) for v in model.weights}


def test_finetune_continues_the_classifier_on_frozen_features():
    """One full-batch step against a NumPy SGD step of softmax CE on the frozen (inference-mode) features."""
    images, labels = noise_data()
    network = randomised_statistics(built_network())
    before = weights(network)
    seed, size, lr, wd = 3, len(labels), 0.01, 2e-4
    model = cpmix_finetune(network, images, labels, epochs=1, batch_size=size, seed=seed, verbose=0)

    # The step's batch: class-balanced draws, crop + flip (the pipeline's, keyed by the seed).
    x, y = DeviceBatches(images, labels, 3, size, sampler="class_balanced", seed=seed)[0]
    assert np.bincount(keras.ops.convert_to_numpy(y), minlength=3).min() >= 4  # instance sampling: 3 of class 2
    embed = keras.Model(network.input, network.get_layer("pool").output)
    f = keras.ops.convert_to_numpy(embed(keras.ops.cast(x, "float32"), training=False)).astype("float64")
    w, b = before["classifier/kernel"].astype("float64"), before["classifier/bias"].astype("float64")
    z = f @ w + b
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    g = (p - np.eye(3)[keras.ops.convert_to_numpy(y)]) / size  # d mean CE / d z
    after = weights(model)
    # torch SGD's first step (momentum buffer = gradient): w -= lr * (grad + wd * w), lr = cosine(0) = 0.01.
    np.testing.assert_allclose(after["classifier/kernel"], w - lr * (f.T @ g + wd * w), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(after["classifier/bias"], b - lr * (g.sum(0) + wd * b), rtol=1e-5, atol=1e-7)
    for path, value in before.items():  # backbone and BN statistics frozen; the input model untouched
        if not path.startswith("classifier/"):
            np.testing.assert_array_equal(after[path], value, err_msg=path)
        np.testing.assert_array_equal(weights(network)[path], value, err_msg=path)
    assert model.keras_lt_config["cpmix_finetune"] == {
        "reinitialize": False, "epochs": 1, "lr": 0.01, "batch_size": size, "momentum": 0.9, "weight_decay": 2e-4,
        "sampler": "class_balanced", "seed": seed,
    }
    assert STAGE2["cpmix"] is cpmix_finetune and all(layer.trainable for layer in model.layers)


def test_finetune_lr_is_a_cosine_from_its_start(tmp_path):
    images, labels = noise_data()
    log = str(tmp_path / "log.csv")
    cpmix_finetune(built_network(), images, labels, epochs=4, batch_size=8, verbose=0,
                   callbacks=[keras.callbacks.CSVLogger(log)])
    with open(log) as f:
        rates = [float(row["lr"]) for row in csv.DictReader(f)]
    steps = 3  # 24 images, batch 8
    total = 4 * steps
    expected = [0.5 * 0.01 * (1 + np.cos(np.pi * epoch * steps / total)) for epoch in range(4)]  # first step of each epoch
    np.testing.assert_allclose(rates, expected, rtol=1e-6, atol=1e-9)


def test_finetune_reinitialize_is_crt():
    images, labels = noise_data()
    network = randomised_statistics(built_network())
    before = weights(network)
    model = cpmix_finetune(network, images, labels, epochs=1, lr=0.0, batch_size=8, reinitialize=True, seed=7, verbose=0)
    after = weights(model)
    assert not np.allclose(after["classifier/kernel"], before["classifier/kernel"])
    np.testing.assert_array_equal(after["classifier/bias"], np.zeros(3))
    for path, value in before.items():
        if not path.startswith("classifier/"):
            np.testing.assert_array_equal(after[path], value, err_msg=path)
    assert model.keras_lt_config["cpmix_finetune"]["reinitialize"] is True
    with pytest.raises(KerasLTError, match="pass the training images"):
        cpmix_finetune(network)
