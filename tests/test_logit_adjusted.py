"""LogitAdjusted and posthoc_logit_adjustment against direct NumPy formulas written here."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_lt import losses
from keras_lt.losses import LogitAdjusted
from keras_lt.losses import posthoc_logit_adjustment

COUNTS = [37, 500, 5, 120]  # deliberately not sorted by class id


def reference_la(logits, labels, counts, tau):
    """mean_i -log softmax(z_i + tau * log(n / N))[y_i], in float64."""
    prior = np.asarray(counts, "float64") / np.sum(counts)
    z = logits.astype("float64") + tau * np.log(prior)
    z = z - z.max(1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(1, keepdims=True))
    return -log_p[np.arange(len(labels)), labels].mean()


@pytest.mark.parametrize("tau", [1.0, 0.5, 2.0])
def test_matches_numpy_formula(tau):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(16, 4)).astype("float32") * 3
    labels = rng.integers(0, 4, size=16)
    value = float(LogitAdjusted(COUNTS, tau=tau)(labels, logits))
    assert value == pytest.approx(reference_la(logits, labels, COUNTS, tau), rel=1e-5)


def test_tau_one_is_balanced_softmax():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(8, 4)).astype("float32")
    labels = rng.integers(0, 4, size=(8, 1))
    la = float(LogitAdjusted(COUNTS)(labels, logits))
    assert la == pytest.approx(float(losses.BalancedSoftmax(COUNTS)(labels, logits)), rel=1e-6)


def test_posthoc_numpy_and_tensor():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(5, 4)).astype("float32")
    expected = logits - 0.7 * np.log(np.asarray(COUNTS) / np.sum(COUNTS))
    adjusted = posthoc_logit_adjustment(logits, COUNTS, tau=0.7)
    assert isinstance(adjusted, np.ndarray)
    np.testing.assert_allclose(adjusted, expected, rtol=1e-6)
    tensor = posthoc_logit_adjustment(ops.convert_to_tensor(logits), COUNTS, tau=0.7)
    assert ops.is_tensor(tensor)
    np.testing.assert_allclose(ops.convert_to_numpy(tensor), expected, rtol=1e-6)


def test_posthoc_favours_rare_classes_on_ties():
    assert posthoc_logit_adjustment(np.zeros((1, 4)), COUNTS).argmax(-1)[0] == 2


def test_config_round_trip_and_registry():
    loss = losses.get("la", COUNTS, tau=0.5)
    assert isinstance(loss, LogitAdjusted) and isinstance(losses.get("logit_adjusted", COUNTS), LogitAdjusted)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert restored.get_config() == loss.get_config()
    logits = np.random.default_rng(3).normal(size=(4, 4)).astype("float32")
    labels = np.array([0, 1, 2, 3])
    assert float(restored(labels, logits)) == pytest.approx(float(loss(labels, logits)))
