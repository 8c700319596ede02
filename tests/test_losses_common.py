"""Tests keras_lt.losses.common: count validation, integer labels, the log prior, cross-entropy, class weights."""

import json

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np
import pytest

from keras_lt.losses import common

numpy = keras.ops.convert_to_numpy


def test_validated_counts_are_a_float64_vector():
    counts = common.validated_counts([5, 2, 1])
    assert counts.dtype == np.float64 and counts.tolist() == [5.0, 2.0, 1.0]


@pytest.mark.parametrize("counts", [[5, 0, 1], [5, -2], [[5, 2], [1, 1]], 7])
def test_counts_that_are_not_a_positive_vector_are_one_line(counts):
    with pytest.raises(ValueError, match="^class_counts must be a 1-D list of positive training counts per class.$"):
        common.validated_counts(counts)
    with pytest.raises(ValueError, match="class_counts must be"):
        common.log_prior(counts)


def test_sparse_labels_are_a_flat_int32_vector():
    labels = common.sparse_labels(np.array([[2.0], [0.0], [1.0]], "float32"))
    assert keras.ops.dtype(labels) == "int32" and numpy(labels).tolist() == [2, 0, 1]


def test_log_prior():
    prior = common.log_prior([6, 3, 1])
    assert prior.dtype == np.float32
    np.testing.assert_allclose(prior, [np.log(0.6), np.log(0.3), np.log(0.1)], rtol=1e-6)


def test_sparse_softmax_cross_entropy_is_minus_the_log_softmax_of_the_label():
    logits = np.array([[2.0, -1.0, 0.5], [0.0, 0.0, 3.0]], "float32")
    labels = np.array([[0], [1]])
    z = logits.astype(np.float64)
    expected = np.log(np.exp(z).sum(1)) - z[[0, 1], [0, 1]]
    np.testing.assert_allclose(numpy(common.sparse_softmax_cross_entropy(labels, logits)), expected, rtol=1e-6)


def test_class_weighted_gives_the_weighted_mean_or_the_batch_sum_as_keras_batch_mean():
    losses = np.array([1.0, 2.0, 4.0, 0.5], "float32")
    labels = np.array([0, 1, 1, 2])
    weight = np.array([1.0, 3.0, 0.5])
    w = weight[labels]

    weighted = numpy(common.class_weighted(keras.ops.convert_to_tensor(losses), labels, weight))
    np.testing.assert_allclose(weighted, w * losses / w.mean(), rtol=1e-6)
    np.testing.assert_allclose(weighted.mean(), np.sum(w * losses) / np.sum(w), rtol=1e-6)  # torch's weighted CE
    batch = numpy(common.class_weighted(keras.ops.convert_to_tensor(losses), labels[:, None], weight, "batch"))
    np.testing.assert_allclose(batch, w * losses, rtol=1e-6)
    np.testing.assert_allclose(batch.mean(), np.sum(w * losses) / len(losses), rtol=1e-6)  # Cui et al.'s
    unweighted = keras.ops.convert_to_tensor(losses)
    assert common.class_weighted(unweighted, labels, None) is unweighted
    assert set(common.NORMALIZATIONS) == {"weighted_mean", "batch"}


def test_class_weight_config_is_json():
    config = common.class_weight_config(np.array([1.0, 0.25], "float32"))
    assert config == [1.0, 0.25] and all(type(w) is float for w in config)
    assert json.loads(json.dumps(config)) == config
    assert common.class_weight_config(None) is None
