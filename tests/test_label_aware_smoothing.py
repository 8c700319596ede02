"""LabelAwareSmoothing against the METHODS.md formula in NumPy, written here."""

import keras
import numpy as np
import pytest

from keras_lt import losses
from keras_lt.data import long_tailed_counts
from keras_lt.losses import LabelAwareSmoothing

COUNTS = [120, 500, 5, 33, 260]  # deliberately not sorted by class id


def reference_epsilons(counts, eps_head, eps_tail):
    n = np.asarray(counts, "float64")
    return eps_tail + (eps_head - eps_tail) * np.sin(np.pi * (n - n.min()) / (2 * (n.max() - n.min())))


def reference_las(logits, labels, counts, eps_head, eps_tail):
    """mean_i (1 - eps_y) (-log p_y) + eps_y mean_k(-log p_k), float64."""
    z = logits.astype("float64")
    z = z - z.max(1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(1, keepdims=True))
    eps = reference_epsilons(counts, eps_head, eps_tail)[labels]
    nll = -log_p[np.arange(len(labels)), labels]
    return np.mean((1 - eps) * nll + eps * -log_p.mean(1))


@pytest.mark.parametrize("eps_head, eps_tail", [(0.4, 0.1), (0.3, 0.0)])
def test_matches_numpy_formula(eps_head, eps_tail):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(32, 5)).astype("float32") * 2
    labels = rng.integers(0, 5, size=32)
    value = float(LabelAwareSmoothing(COUNTS, eps_head, eps_tail)(labels, logits))
    assert value == pytest.approx(reference_las(logits, labels, COUNTS, eps_head, eps_tail), rel=1e-5)


def test_epsilons_head_to_tail():
    counts = long_tailed_counts(100, 500, 100)
    eps = LabelAwareSmoothing(counts, eps_head=0.4, eps_tail=0.1).epsilons
    assert eps[0] == pytest.approx(0.4) and eps[-1] == pytest.approx(0.1)
    assert np.all(np.diff(eps) <= 0)
    np.testing.assert_allclose(eps, reference_epsilons(counts, 0.4, 0.1), rtol=1e-6)


def test_balanced_counts_use_eps_head():
    np.testing.assert_allclose(LabelAwareSmoothing([50, 50, 50], 0.3, 0.0).epsilons, 0.3)


def test_config_round_trip_and_registry():
    loss = losses.get("las", COUNTS, eps_head=0.3, eps_tail=0.0)
    assert isinstance(losses.get("label_aware_smoothing", COUNTS), LabelAwareSmoothing)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert isinstance(restored, LabelAwareSmoothing) and restored.get_config() == loss.get_config()
    np.testing.assert_array_equal(restored.epsilons, loss.epsilons)
