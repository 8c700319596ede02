"""effective_number_weights and ClassBalanced against direct NumPy formulas written here."""

import keras
import numpy as np
import pytest

from keras_lt import losses
from keras_lt.data import long_tailed_counts
from keras_lt.losses import ClassBalanced
from keras_lt.losses import effective_number_weights

COUNTS = [40, 5000, 300, 2, 900]  # deliberately not sorted by class id


def reference_weights(counts, beta):
    """Cui et al.: 1 / E_n with E_n = (1 - beta^n) / (1 - beta), normalised to sum C."""
    w = np.array([(1 - beta) / (1 - beta**n) for n in counts])
    return w / w.sum() * len(counts)


def reference_cb(logits, labels, counts, beta, gamma):
    """Torch-convention weighted mean of the softmax focal loss (gamma = 0: weighted CE)."""
    z = logits.astype("float64")
    p = np.exp(z - z.max(1, keepdims=True))
    p_y = (p / p.sum(1, keepdims=True))[np.arange(len(labels)), labels]
    w = reference_weights(counts, beta)[labels]
    return np.sum(w * (1 - p_y) ** gamma * -np.log(p_y)) / np.sum(w)


@pytest.mark.parametrize("beta", [0.9999, 0.99, 0.0])
def test_effective_number_weights(beta):
    weights = effective_number_weights(COUNTS, beta)
    np.testing.assert_allclose(weights, reference_weights(COUNTS, beta), rtol=1e-5)
    assert weights.sum() == pytest.approx(len(COUNTS), rel=1e-5)


def test_drw_weights_at_cifar10_if100():
    weights = effective_number_weights(long_tailed_counts(10, 5000, 100))
    assert np.all(np.diff(weights) > 0)  # rarer class, larger weight
    assert weights[-1] / weights[0] == pytest.approx((1 - 0.9999**5000) / (1 - 0.9999**50), rel=1e-5)


@pytest.mark.parametrize("base, gamma", [("ce", 1.0), ("focal", 1.0), ("focal", 2.0)])
def test_matches_numpy_formula(base, gamma):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(32, 5)).astype("float32") * 2
    labels = rng.integers(0, 5, size=32)
    value = float(ClassBalanced(COUNTS, beta=0.999, base=base, gamma=gamma)(labels, logits))
    expected = reference_cb(logits, labels, COUNTS, 0.999, gamma if base == "focal" else 0.0)
    assert value == pytest.approx(expected, rel=1e-5)


def test_weighted_ce_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(32, 5)).astype("float32")
    labels = rng.integers(0, 5, size=32)
    weight = torch.tensor(reference_weights(COUNTS, 0.9999), dtype=torch.float32)
    expected = torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(labels), weight=weight)
    assert float(ClassBalanced(COUNTS)(labels, logits)) == pytest.approx(float(expected), rel=1e-5)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="base"):
        ClassBalanced(COUNTS, base="hinge")
    with pytest.raises(ValueError, match="beta"):
        effective_number_weights(COUNTS, beta=1.0)
    with pytest.raises(ValueError, match="class_counts"):
        effective_number_weights([10, 0])


def test_config_round_trip_and_registry():
    loss = losses.get("cb", COUNTS, beta=0.99, base="focal", gamma=2.0)
    assert isinstance(losses.get("class_balanced", COUNTS), ClassBalanced)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert isinstance(restored, ClassBalanced) and restored.get_config() == loss.get_config()
    np.testing.assert_array_equal(restored.class_weight, loss.class_weight)
