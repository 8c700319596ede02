"""Focal against a direct NumPy formula written here."""

import keras
import numpy as np
import pytest

from keras_lt import losses
from keras_lt.losses import Focal


def reference_focal(logits, labels, gamma, class_weight=None):
    """sum_i w_y (1 - p_y)^gamma (-log p_y) / sum_i w_y (w = 1 without class weights), float64."""
    z = logits.astype("float64")
    p = np.exp(z - z.max(1, keepdims=True))
    p_y = (p / p.sum(1, keepdims=True))[np.arange(len(labels)), labels]
    w = np.ones(len(labels)) if class_weight is None else np.asarray(class_weight)[labels]
    return np.sum(w * (1 - p_y) ** gamma * -np.log(p_y)) / np.sum(w)


def random_batch(seed, batch=32, classes=5):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(batch, classes)).astype("float32") * 2, rng.integers(0, classes, size=batch)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0])
def test_matches_numpy_formula(gamma):
    logits, labels = random_batch(0)
    value = float(Focal(gamma=gamma)(labels, logits))
    assert value == pytest.approx(reference_focal(logits, labels, gamma), rel=1e-5)


def test_gamma_zero_is_cross_entropy():
    logits, labels = random_batch(1)
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)
    assert float(Focal(gamma=0.0)(labels, logits)) == pytest.approx(float(ce), rel=1e-6)


def test_class_weight_is_a_weighted_mean():
    logits, labels = random_batch(2)
    weights = [0.2, 0.5, 1.0, 1.3, 2.0]
    loss = Focal(gamma=2.0)
    loss.class_weight = np.asarray(weights, "float32")
    value = float(loss(labels, logits))
    assert value == pytest.approx(reference_focal(logits, labels, 2.0, weights), rel=1e-5)


def test_rejects_negative_gamma():
    with pytest.raises(ValueError, match="gamma"):
        Focal(gamma=-1.0)


def test_config_round_trip_and_registry():
    loss = losses.get("focal", [500, 50, 5, 5, 5], gamma=2.0)
    loss.class_weight = np.array([1.0, 2.0, 3.0, 4.0, 5.0], "float32")
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert isinstance(restored, Focal) and restored.get_config() == loss.get_config()
    logits, labels = random_batch(3)
    assert float(restored(labels, logits)) == pytest.approx(float(loss(labels, logits)))


@pytest.mark.parametrize("loss", [Focal(gamma=0.5), losses.ClassBalanced([5, 3, 1], base="softmax_focal", gamma=0.25)])
def test_a_sample_fit_to_probability_one_keeps_the_gradient_finite_below_gamma_one(loss):
    """`(1 - p) ** gamma` has an infinite slope at p = 1 below gamma 1: one fitted sample made the batch's gradient NaN."""
    import torch

    logits = torch.tensor([[40.0, 0.0, 0.0], [0.3, 0.1, -0.2]], requires_grad=True)  # sample 0: p_y = 1 in float32
    labels = torch.tensor([0, 1])
    value = loss(labels, logits)
    value.backward()
    assert torch.isfinite(logits.grad).all() and torch.isfinite(value)
    if isinstance(loss, Focal):  # the fitted sample adds (almost) nothing: the mean is the other's over 2
        assert float(value.detach()) == pytest.approx(reference_focal(logits.detach().numpy()[1:], labels.numpy()[1:], 0.5) / 2,
                                             rel=1e-5)
