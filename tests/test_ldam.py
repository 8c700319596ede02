"""LDAM (and LDAM-DRW) against direct NumPy formulas written here, and against torch's weighted CE."""

import keras
import numpy as np
import pytest

from keras_lt import losses
from keras_lt.data import long_tailed_counts
from keras_lt.losses import LDAM
from keras_lt.losses import effective_number_weights
from keras_lt.losses.ldam import ldam_margins

CIFAR10_IF100 = long_tailed_counts(10, 5000, 100)


def reference_margins(counts, max_margin):
    """Delta_c = C_m / n_c^(1/4) with C_m such that max Delta = max_margin."""
    raw = 1.0 / np.asarray(counts, "float64") ** 0.25
    return raw * max_margin / raw.max()


def reference_ldam(cosines, labels, counts, max_margin=0.5, scale=30.0, class_weight=None):
    """torch F.cross_entropy(s * (z - Delta_y onehot), y, weight=w): sum w_y l / sum w_y, float64."""
    rows = np.arange(len(labels))
    z = cosines.astype("float64").copy()
    z[rows, labels] -= reference_margins(counts, max_margin)[labels]
    z = scale * z
    z = z - z.max(1, keepdims=True)
    nll = -(z - np.log(np.exp(z).sum(1, keepdims=True)))[rows, labels]
    w = np.ones(len(labels)) if class_weight is None else np.asarray(class_weight, "float64")[labels]
    return np.sum(w * nll) / np.sum(w)


def random_cosines(seed, batch=64, classes=10):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, size=(batch, classes)).astype("float32"), rng.integers(0, classes, size=batch)


def test_margins_at_cifar10_if100():
    margins = ldam_margins(CIFAR10_IF100)
    np.testing.assert_allclose(margins, reference_margins(CIFAR10_IF100, 0.5), rtol=1e-6)
    assert margins[-1] == pytest.approx(0.5)
    assert margins[0] == pytest.approx(0.5 * (50 / 5000) ** 0.25, rel=1e-6)  # 0.158
    np.testing.assert_allclose(LDAM(CIFAR10_IF100[::-1]).margins, margins[::-1], rtol=1e-6)


def test_matches_numpy_formula():
    cosines, labels = random_cosines(0)
    value = float(LDAM(CIFAR10_IF100)(labels, cosines))
    assert value == pytest.approx(reference_ldam(cosines, labels, CIFAR10_IF100), rel=1e-5)


def test_hyperparameters_and_column_labels():
    counts = [7, 300, 45, 1000]  # unsorted class ids
    cosines, labels = random_cosines(1, classes=4)
    value = float(LDAM(counts, max_margin=0.3, scale=10.0)(labels[:, None], cosines))
    assert value == pytest.approx(reference_ldam(cosines, labels, counts, 0.3, 10.0), rel=1e-5)


def test_drw_weighted_mean_matches_formula_and_torch():
    cosines, labels = random_cosines(2)
    loss = LDAM(CIFAR10_IF100)
    plain = float(loss(labels, cosines))
    loss.class_weight = effective_number_weights(CIFAR10_IF100)
    weighted = float(loss(labels, cosines))
    drw = (1 - 0.9999) / (1 - 0.9999 ** np.asarray(CIFAR10_IF100, "float64"))
    drw = drw / drw.sum() * 10
    assert weighted == pytest.approx(reference_ldam(cosines, labels, CIFAR10_IF100, class_weight=drw), rel=1e-5)
    assert weighted != pytest.approx(plain, rel=1e-3)

    import torch
    z = torch.tensor(cosines)
    y = torch.tensor(labels)
    margins = torch.tensor(reference_margins(CIFAR10_IF100, 0.5), dtype=torch.float32)
    z_m = z - torch.nn.functional.one_hot(y, 10) * margins
    weight = torch.tensor(drw, dtype=torch.float32)
    expected = torch.nn.functional.cross_entropy(30 * z_m, y, weight=weight)
    assert weighted == pytest.approx(float(expected), rel=1e-5)

    loss.class_weight = None
    assert float(loss(labels, cosines)) == pytest.approx(plain)


def test_config_round_trip_and_registry():
    loss = losses.get("ldam", CIFAR10_IF100, max_margin=0.4, scale=20.0)
    loss.class_weight = effective_number_weights(CIFAR10_IF100)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert isinstance(restored, LDAM) and restored.get_config() == loss.get_config()
    cosines, labels = random_cosines(3)
    assert float(restored(labels, cosines)) == pytest.approx(float(loss(labels, cosines)))
