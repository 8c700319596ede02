import numpy as np
import pytest

import keras_lt
from keras_lt.errors import KerasLTError
from keras_lt.losses import BalancedSoftmax


def numpy_balanced_softmax(labels, logits, counts):
    z = logits + np.log(np.asarray(counts, "float64") / np.sum(counts))
    z = z - z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(labels)), labels].mean()


def test_matches_numpy_formula():
    rng = np.random.default_rng(0)
    counts = [5000, 1200, 300, 70, 50]
    logits = rng.normal(size=(32, 5)).astype("float32") * 3
    labels = rng.integers(0, 5, 32)
    value = float(BalancedSoftmax(counts)(labels, logits))
    assert value == pytest.approx(numpy_balanced_softmax(labels, logits, counts), rel=1e-5)


def test_prior_shift_favours_rare_classes():
    # With zero logits the model's adjusted posterior is the prior: rare labels cost more.
    loss = BalancedSoftmax([90, 10])
    head = float(loss(np.array([0]), np.zeros((1, 2), "float32")))
    tail = float(loss(np.array([1]), np.zeros((1, 2), "float32")))
    assert head == pytest.approx(-np.log(0.9), rel=1e-5)
    assert tail == pytest.approx(-np.log(0.1), rel=1e-5)


def test_config_round_trip_and_registry():
    loss = keras_lt.losses.get("bs", [3, 2, 1])
    clone = BalancedSoftmax.from_config(loss.get_config())
    assert clone.class_counts == [3, 2, 1]
    assert "tau" not in loss.get_config()
    with pytest.raises(KerasLTError, match="unknown loss"):
        keras_lt.losses.get("nope", [1, 2])


def test_rejects_empty_classes():
    with pytest.raises(ValueError, match="positive"):
        BalancedSoftmax([10, 0, 3])


def test_a_tau_other_than_1_is_refused_and_points_to_logit_adjusted():
    with pytest.raises(KerasLTError, match="tau 1, not 0.5; .* use the logit_adjusted loss") as error:
        keras_lt.losses.get("bs", [3, 2, 1], tau=0.5)
    assert "\n" not in str(error.value)
    assert keras_lt.losses.get("bs", [3, 2, 1], tau=1.0).tau == 1.0
    clone = BalancedSoftmax.from_config(BalancedSoftmax([3, 2, 1], tau=1).get_config())
    assert clone.tau == 1.0 and clone.get_config() == BalancedSoftmax([3, 2, 1]).get_config()
