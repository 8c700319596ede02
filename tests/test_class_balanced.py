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


def reference_cb(logits, labels, counts, beta, gamma, normalization="weighted_mean"):
    """Weighted mean (torch) or Cui's sum / B of the softmax focal loss (gamma = 0: weighted CE)."""
    z = logits.astype("float64")
    p = np.exp(z - z.max(1, keepdims=True))
    p_y = (p / p.sum(1, keepdims=True))[np.arange(len(labels)), labels]
    w = reference_weights(counts, beta)[labels]
    total = np.sum(w * (1 - p_y) ** gamma * -np.log(p_y))
    return total / (np.sum(w) if normalization == "weighted_mean" else len(labels))


def cui_focal_loss(labels, logits, alpha, gamma):
    """NumPy copy of `focal_loss` in richardaecn/class-balanced-loss, src/cifar_main.py (float64).

    labels: one-hot (B, C); alpha: per-example weight broadcast to (B, C).
    """
    cross_entropy = np.maximum(logits, 0) - logits * labels + np.log1p(np.exp(-np.abs(logits)))  # TF's stable form
    modulator = 1.0 if gamma == 0.0 else np.exp(-gamma * labels * logits - gamma * np.log1p(np.exp(-1.0 * logits)))
    return np.sum(alpha * modulator * cross_entropy) / np.sum(labels)


def cui_class_balanced_focal(logits, labels, counts, beta, gamma):
    """`_tower_fn`'s loss_type 'focal' with the weights of `main` (same file), as Cui et al. train."""
    effective_num = 1.0 - np.power(beta, counts)
    weights = (1.0 - beta) / np.array(effective_num)
    weights = weights / np.sum(weights) * len(counts)
    one_hot = np.eye(len(counts))[labels]
    alpha = np.tile((np.tile(weights[None], (len(labels), 1)) * one_hot).sum(1)[:, None], (1, len(counts)))
    return cui_focal_loss(one_hot, logits.astype("float64"), alpha, gamma)


@pytest.mark.parametrize("beta", [0.9999, 0.99, 0.0])
def test_effective_number_weights(beta):
    weights = effective_number_weights(COUNTS, beta)
    np.testing.assert_allclose(weights, reference_weights(COUNTS, beta), rtol=1e-5)
    assert weights.sum() == pytest.approx(len(COUNTS), rel=1e-5)


def test_drw_weights_at_cifar10_if100():
    weights = effective_number_weights(long_tailed_counts(10, 5000, 100))
    assert np.all(np.diff(weights) > 0)  # rarer class, larger weight
    assert weights[-1] / weights[0] == pytest.approx((1 - 0.9999**5000) / (1 - 0.9999**50), rel=1e-5)


@pytest.mark.parametrize("normalization", ["weighted_mean", "batch"])
@pytest.mark.parametrize("base, gamma", [("ce", 1.0), ("softmax_focal", 1.0), ("softmax_focal", 2.0)])
def test_matches_numpy_formula(base, gamma, normalization):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(32, 5)).astype("float32") * 2
    labels = rng.integers(0, 5, size=32)
    loss = ClassBalanced(COUNTS, beta=0.999, base=base, gamma=gamma, normalization=normalization)
    expected = reference_cb(logits, labels, COUNTS, 0.999, gamma if base == "softmax_focal" else 0.0, normalization)
    assert float(loss(labels, logits)) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0])
def test_sigmoid_focal_with_batch_normalisation_is_cuis(gamma):
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(32, 5)).astype("float32") * 3
    labels = rng.integers(0, 5, size=32)
    loss = ClassBalanced(COUNTS, beta=0.9999, base="sigmoid_focal", gamma=gamma, normalization="batch")
    expected = cui_class_balanced_focal(logits, labels, COUNTS, 0.9999, gamma)
    assert float(loss(labels, logits)) == pytest.approx(expected, rel=1e-5)


def test_sigmoid_focal_matches_the_pytorch_port():
    """vandit15/Class-balanced-loss-pytorch's `CB_loss(loss_type="focal")`, copied with torch ops."""
    import torch
    F = torch.nn.functional
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(16, 5)).astype("float32")
    labels = rng.integers(0, 5, size=16)
    beta, gamma, no_of_classes = 0.999, 2.0, 5
    effective_num = 1.0 - np.power(beta, COUNTS)
    weights = (1.0 - beta) / np.array(effective_num)
    weights = weights / np.sum(weights) * no_of_classes
    labels_one_hot = F.one_hot(torch.tensor(labels), no_of_classes).float()
    weights = torch.tensor(weights).float().unsqueeze(0)
    weights = (weights.repeat(labels_one_hot.shape[0], 1) * labels_one_hot).sum(1).unsqueeze(1).repeat(1, no_of_classes)
    z = torch.tensor(logits)
    bc_loss = F.binary_cross_entropy_with_logits(input=z, target=labels_one_hot, reduction="none")
    modulator = torch.exp(-gamma * labels_one_hot * z - gamma * torch.log(1 + torch.exp(-1.0 * z)))
    expected = torch.sum(weights * modulator * bc_loss) / torch.sum(labels_one_hot)
    loss = ClassBalanced(COUNTS, beta=beta, base="sigmoid_focal", gamma=gamma, normalization="batch")
    assert float(loss(labels, logits)) == pytest.approx(float(expected), rel=1e-5)


def test_sigmoid_focal_weighted_mean():
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(32, 5)).astype("float32")
    labels = rng.integers(0, 5, size=32)
    w = reference_weights(COUNTS, 0.99)[labels]
    batch = cui_class_balanced_focal(logits, labels, COUNTS, 0.99, 1.0)  # sum w l / B
    loss = ClassBalanced(COUNTS, beta=0.99, base="sigmoid_focal", gamma=1.0, normalization="weighted_mean")
    assert float(loss(labels, logits)) == pytest.approx(batch * len(labels) / np.sum(w), rel=1e-5)


def test_the_cb_focal_recipe_names_its_focal_and_normalisation():
    from keras_lt.recipes import load_recipe

    config = load_recipe("cb-focal-resnet32-cifar10lt").loss_config
    assert config == {"beta": 0.9999, "base": "softmax_focal", "gamma": 1.0, "normalization": "weighted_mean"}


def test_weighted_ce_matches_torch():
    import torch
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(32, 5)).astype("float32")
    labels = rng.integers(0, 5, size=32)
    weight = torch.tensor(reference_weights(COUNTS, 0.9999), dtype=torch.float32)
    expected = torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(labels), weight=weight)
    assert float(ClassBalanced(COUNTS)(labels, logits)) == pytest.approx(float(expected), rel=1e-5)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="base"):
        ClassBalanced(COUNTS, base="hinge")
    with pytest.raises(ValueError, match="normalization 'mean'.*weighted_mean, batch"):
        ClassBalanced(COUNTS, normalization="mean")
    with pytest.raises(ValueError, match="beta"):
        effective_number_weights(COUNTS, beta=1.0)
    with pytest.raises(ValueError, match="class_counts"):
        effective_number_weights([10, 0])


def test_config_round_trip_and_registry():
    loss = losses.get("cb", COUNTS, beta=0.99, base="sigmoid_focal", gamma=2.0, normalization="batch")
    assert isinstance(losses.get("class_balanced", COUNTS), ClassBalanced)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert isinstance(restored, ClassBalanced) and restored.get_config() == loss.get_config()
    np.testing.assert_array_equal(restored.class_weight, loss.class_weight)
