"""KPSLoss against direct NumPy formulas written here (METHODS.md and the official code's form)."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_lt import losses
from keras_lt.data import long_tailed_counts
from keras_lt.losses import KPSLoss

CIFAR10_IF100 = long_tailed_counts(10, 5000, 100)


def reference_kps(cosines, labels, counts, ga, max_m=0.2, s=15.0, max_s=50.0):
    """METHODS.md: CE on s_b * (r_j cos_j - m_y onehot), r, r', m from the counts, float64."""
    n = np.asarray(counts, "float64")
    r = 1 + np.log(n / n.min()) / np.log(50)
    r_swapped = 1 + np.log(n.max() / n) / np.log(50)
    m = max_m * (1 + np.log(n.max() / n) / np.log(50)) / (1 + np.log(n.max() / n.min()) / np.log(50))
    rows = np.arange(len(labels))
    z = r * cosines.astype("float64")
    z[rows, labels] -= m[labels]
    s_b = np.clip(s * r_swapped[labels], s, max_s) if ga else np.full(len(labels), s)
    z = s_b[:, None] * z
    z = z - z.max(1, keepdims=True)
    return -(z - np.log(np.exp(z).sum(1, keepdims=True)))[rows, labels].mean()


def official_kps(cosines, labels, counts, ga, max_m=0.2, s=15.0):
    """The official code's arithmetic (Keke921/KPSLoss losses.py), for counts sorted head first."""
    s_list = np.log(np.asarray(counts, "float64") * (50 / min(counts)))
    s_list = s_list / s_list.min()
    m_list = s_list[::-1] * (max_m / s_list[::-1].max())
    onehot = np.eye(len(counts), dtype=bool)[labels]
    out = np.where(onehot, cosines * s_list - m_list, cosines * s_list)
    scale = np.clip(s_list[::-1] * s, s, 50)[labels][:, None] if ga else s
    z = out * scale
    z = z - z.max(1, keepdims=True)
    return -(z - np.log(np.exp(z).sum(1, keepdims=True)))[np.arange(len(labels)), labels].mean()


def random_cosines(seed, batch=64, classes=10):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, size=(batch, classes)).astype("float32"), rng.integers(0, classes, size=batch)


def test_radii_and_margins_at_cifar10_if100():
    loss = KPSLoss(CIFAR10_IF100)
    assert loss.radii[0] == pytest.approx(1 + np.log(100) / np.log(50), rel=1e-6)  # 2.177
    assert loss.radii[0] == pytest.approx(2.18, abs=5e-3)
    assert loss.radii[-1] == pytest.approx(1.0)
    assert loss.margins[-1] == pytest.approx(0.2)
    assert loss.margins[0] == pytest.approx(0.2 / (1 + np.log(100) / np.log(50)), rel=1e-6)
    assert np.all(np.diff(loss.radii) < 0) and np.all(np.diff(loss.margins) > 0)


def test_any_class_order():
    order = np.random.default_rng(0).permutation(10)
    shuffled = KPSLoss(np.asarray(CIFAR10_IF100)[order])
    sorted_loss = KPSLoss(CIFAR10_IF100)
    np.testing.assert_allclose(shuffled.radii, sorted_loss.radii[order], rtol=1e-6)
    np.testing.assert_allclose(shuffled.margins, sorted_loss.margins[order], rtol=1e-6)


@pytest.mark.parametrize("ga", [False, True])
def test_matches_numpy_formula(ga):
    cosines, labels = random_cosines(1)
    value = float(KPSLoss(CIFAR10_IF100, gradient_adjustment=ga)(labels, cosines))
    assert value == pytest.approx(reference_kps(cosines, labels, CIFAR10_IF100, ga), rel=1e-5)


@pytest.mark.parametrize("ga", [False, True])
def test_matches_official_code_on_a_geometric_profile(ga):
    counts = [5000, 500, 50]  # exactly geometric: the official flip equals the order-free form
    cosines, labels = random_cosines(2, classes=3)
    loss = KPSLoss(counts)
    loss.gradient_adjustment = ga
    assert float(loss(labels, cosines)) == pytest.approx(official_kps(cosines, labels, counts, ga), rel=1e-5)


def test_gradient_adjustment_scales_tail_samples_more():
    loss = KPSLoss(CIFAR10_IF100)
    labels = np.array([0, 9])  # head, tail
    before = ops.convert_to_numpy(loss.sample_scales(labels))
    np.testing.assert_allclose(before, [15.0, 15.0])
    loss.gradient_adjustment = True
    head, tail = ops.convert_to_numpy(loss.sample_scales(labels))
    assert head == pytest.approx(15.0)
    assert tail == pytest.approx(min(15 * (1 + np.log(100) / np.log(50)), 50.0), rel=1e-6)
    assert tail > head


def test_config_round_trip_and_registry():
    loss = losses.get("kps", CIFAR10_IF100, max_margin=0.3, scale=10.0, max_scale=40.0)
    loss.gradient_adjustment = True
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert isinstance(restored, KPSLoss) and restored.get_config() == loss.get_config()
    assert restored.gradient_adjustment
    cosines, labels = random_cosines(3)
    assert float(restored(labels, cosines)) == pytest.approx(float(loss(labels, cosines)))
