"""ISDA: the online covariance estimator against np.cov, the surrogate logits and loss against NumPy."""

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np
import pytest
import torch

from keras_lt.errors import KerasLTError
from keras_lt.losses import ISDACovariance
from keras_lt.losses import isda_logits
from keras_lt.losses import isda_loss


@pytest.mark.parametrize("max_block_bytes", [2**28, 0], ids=["block", "per-class"])
def test_online_estimate_is_the_population_covariance_of_everything_seen(max_block_bytes):
    rng = np.random.default_rng(0)
    estimator = ISDACovariance(4, 3, max_block_bytes=max_block_bytes)
    seen = []
    # Class 3 never appears, class 2 only in the second batch, class 1 once in the first.
    for labels in (np.array([0, 0, 1, 0, 0, 0]), np.array([2, 0, 2, 2, 0]), np.array([0, 2, 0, 0, 0, 0, 0])):
        features = rng.normal(size=(len(labels), 3)) * [1.0, 3.0, 0.5] + labels[:, None]
        estimator.update(features.astype("float32"), labels)
        seen.append((features, labels))
    features = np.concatenate([f for f, _ in seen])
    labels = np.concatenate([y for _, y in seen])
    mean = keras.ops.convert_to_numpy(estimator.mean)
    covariance = keras.ops.convert_to_numpy(estimator.covariance)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(estimator.count), np.bincount(labels, minlength=4))
    for c in (0, 1, 2):
        members = features[labels == c]
        np.testing.assert_allclose(mean[c], members.mean(0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(covariance[c], np.cov(members, rowvar=False, bias=True), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(covariance[3], 0.0)  # never seen: stays 0
    assert not any(v.trainable for v in estimator.weights)  # state, carried by checkpoints, not trained


def block_formula(mean, covariance, count, features, labels):
    """A copy of the one-matmul update as it was before the per-class path: the CIFAR reference."""
    ops = keras.ops
    c, d = covariance.shape[0], covariance.shape[1]
    one_hot = ops.one_hot(labels, c, dtype="float32")
    new = ops.sum(one_hot, axis=0)
    safe = ops.maximum(new, 1.0)
    batch_mean = ops.matmul(ops.transpose(one_hot), features) / safe[:, None]
    centered = features - ops.matmul(one_hot, batch_mean)
    blocks = ops.reshape(one_hot[:, :, None] * centered[:, None, :], (-1, c * d))
    batch_cov = ops.reshape(ops.matmul(ops.transpose(blocks), centered), (c, d, d)) / safe[:, None, None]
    w = ops.where(new > 0, new / (new + count), 0.0)
    shift = mean - batch_mean
    covariance = (covariance * (1.0 - w)[:, None, None] + batch_cov * w[:, None, None]
                  + (w * (1.0 - w))[:, None, None] * shift[:, :, None] * shift[:, None, :])
    return mean * (1.0 - w)[:, None] + batch_mean * w[:, None], covariance, count + new


def test_cifar_size_updates_keep_the_block_arithmetic_bit_for_bit():
    torch.manual_seed(0)
    estimator = ISDACovariance(40, 64)  # LCReg on CIFAR: 128 images x 8 x 8 positions, 40 latents
    expected = (torch.zeros(40, 64), torch.zeros(40, 64, 64), torch.zeros(40))
    for _ in range(2):
        features, labels = torch.randn(8192, 64) * 2.0 + 1.0, torch.randint(0, 38, (8192,))
        estimator.update(features, labels)
        expected = block_formula(*expected, features, labels.int())
    for variable, value in zip((estimator.mean, estimator.covariance, estimator.count), expected):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), value.numpy())


def test_per_class_path_bounds_the_block_and_matches_np_cov_with_absent_classes():
    rng = np.random.default_rng(2)
    c, d = 6, 40
    # Each update's block would be 4 * N * 6 * 40 > 4000 bytes: all go class by class.
    estimator = ISDACovariance(c, d, max_block_bytes=4000)
    batches = [rng.choice([0, 1, 3], size=50), rng.choice([1, 2, 3, 4], size=70), rng.choice([0, 4], size=30)]
    features = [rng.normal(size=(len(y), d)) * rng.uniform(0.5, 3.0, size=d) + y[:, None] for y in batches]
    for x, y in zip(features, batches):
        estimator.update(x.astype("float32"), y)
    features, labels = np.concatenate(features), np.concatenate(batches)
    mean = keras.ops.convert_to_numpy(estimator.mean)
    covariance = keras.ops.convert_to_numpy(estimator.covariance)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(estimator.count), np.bincount(labels, minlength=c))
    for k in range(5):
        members = features[labels == k]
        np.testing.assert_allclose(mean[k], members.mean(0), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(covariance[k], np.cov(members, rowvar=False, bias=True), rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(mean[5], 0.0)  # class 5 never seen
    np.testing.assert_array_equal(covariance[5], 0.0)


def test_max_block_bytes_is_checked_and_serialized():
    with pytest.raises(KerasLTError, match="max_block_bytes must be >= 0"):
        ISDACovariance(4, 3, max_block_bytes=-1)
    restored = ISDACovariance.from_config(ISDACovariance(4, 3, max_block_bytes=123).get_config())
    assert restored.max_block_bytes == 123


def test_surrogate_logits_and_loss_match_the_formula():
    rng = np.random.default_rng(1)
    n, c, d = 5, 4, 3
    logits = rng.normal(size=(n, c))
    labels = np.array([0, 3, 1, 1, 2])
    weight = rng.normal(size=(c, d))
    a = rng.normal(size=(c, d, d))
    covariance = a @ np.transpose(a, (0, 2, 1))  # symmetric PSD per class
    lam = 0.35
    expected = logits.copy()
    for i in range(n):
        for j in range(c):
            delta = weight[j] - weight[labels[i]]
            expected[i, j] += lam / 2 * delta @ covariance[labels[i]] @ delta
    as_tensor = lambda v: keras.ops.convert_to_tensor(v, "float32")  # noqa: E731
    got = isda_logits(as_tensor(logits), labels, as_tensor(weight), as_tensor(covariance), lam)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(got), expected, rtol=1e-5, atol=1e-5)
    shifted = expected - expected.max(1, keepdims=True)
    ce = -(shifted[np.arange(n), labels] - np.log(np.exp(shifted).sum(1))).mean()
    loss = isda_loss(as_tensor(logits), labels, as_tensor(weight), as_tensor(covariance), lam)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loss), ce, rtol=1e-5)
    plain = isda_loss(as_tensor(logits), labels, as_tensor(weight), as_tensor(covariance), 0.0)
    shifted = logits - logits.max(1, keepdims=True)
    np.testing.assert_allclose(  # lam = 0: plain cross-entropy
        keras.ops.convert_to_numpy(plain), -(shifted[np.arange(n), labels] - np.log(np.exp(shifted).sum(1))).mean(),
        rtol=1e-5,
    )


def test_gradients_reach_the_classifier_weights_but_not_the_covariance():
    weight = torch.randn(3, 2, requires_grad=True)
    covariance = torch.eye(2).repeat(3, 1, 1).requires_grad_(True)
    logits = torch.zeros(3, 3)
    isda_loss(logits, torch.arange(3), weight, covariance, 1.0).backward()
    assert weight.grad is not None and torch.any(weight.grad != 0)
    assert covariance.grad is None


def test_no_labels_means_sample_i_is_of_class_i():
    """labels=None (LCReg's latent samples): the formula with y_i = i, values and gradients, without a gather."""
    rng = np.random.default_rng(2)
    c, d = 4, 3
    logits, weight = rng.normal(size=(c, c)), rng.normal(size=(c, d))
    a = rng.normal(size=(c, d, d))
    covariance = a @ np.transpose(a, (0, 2, 1))
    lam = 0.6
    expected = logits + lam / 2 * np.array(
        [[(weight[j] - weight[i]) @ covariance[i] @ (weight[j] - weight[i]) for j in range(c)] for i in range(c)]
    )
    as_tensor = lambda v: torch.tensor(v, dtype=torch.float32, requires_grad=True)  # noqa: E731
    np.testing.assert_allclose(
        isda_logits(as_tensor(logits), None, as_tensor(weight), as_tensor(covariance), lam).detach().numpy(),
        expected, rtol=1e-5, atol=1e-5,
    )
    shifted = expected - expected.max(1, keepdims=True)
    np.testing.assert_allclose(
        isda_loss(as_tensor(logits), None, as_tensor(weight), as_tensor(covariance), lam).item(),
        -(np.diag(shifted) - np.log(np.exp(shifted).sum(1))).mean(), rtol=1e-5,
    )
    grads = []
    for labels in (None, torch.arange(c)):
        w = as_tensor(weight)
        isda_loss(as_tensor(logits), labels, w, as_tensor(covariance), lam).backward()
        grads.append(w.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-6, atol=1e-7)
