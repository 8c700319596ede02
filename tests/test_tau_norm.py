"""Tests keras_lt.models.tau_norm: `tau_normalize` against the formula `w_j / ||w_j|| ** tau`."""

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np
import pytest

from keras_lt.models.tau_norm import tau_normalize


@pytest.mark.parametrize("tau", [0.0, 0.5, 1.0, 2.0])
def test_each_class_column_is_divided_by_its_norm_to_the_power_tau(tau):
    kernel = np.random.default_rng(0).normal(size=(6, 4)) * np.array([0.1, 1.0, 3.0, 10.0])  # (features, classes)
    expected = np.stack([kernel[:, j] / np.sqrt(np.sum(kernel[:, j] ** 2)) ** tau for j in range(4)], axis=1)
    got = keras.ops.convert_to_numpy(tau_normalize(keras.ops.convert_to_tensor(kernel.astype("float32")), tau))
    assert got.shape == (6, 4)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_tau_one_gives_unit_columns_and_tau_zero_changes_nothing():
    kernel = keras.ops.convert_to_tensor(np.random.default_rng(1).normal(size=(5, 3)).astype("float32") * 4.0)
    unit = keras.ops.convert_to_numpy(tau_normalize(kernel))  # tau defaults to 1
    np.testing.assert_allclose(np.linalg.norm(unit, axis=0), np.ones(3), rtol=1e-6)
    unchanged = keras.ops.convert_to_numpy(tau_normalize(kernel, 0.0))
    np.testing.assert_allclose(unchanged, keras.ops.convert_to_numpy(kernel), rtol=1e-6)
