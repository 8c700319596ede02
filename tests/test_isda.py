"""ISDA: the online covariance estimator against np.cov, the surrogate logits and loss against NumPy."""

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np
import torch

from keras_lt.losses import ISDACovariance
from keras_lt.losses import isda_logits
from keras_lt.losses import isda_loss


def test_online_estimate_is_the_population_covariance_of_everything_seen():
    rng = np.random.default_rng(0)
    estimator = ISDACovariance(4, 3)
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
