"""direct_call: the same outputs, BatchNorm statistics and gradients as `network(...)`."""

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np
import pytest
import torch

from keras_lt.models import direct_call
from keras_lt.models import resnet32


def _images(seed, n=4):
    return torch.as_tensor(np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8))


def _twin_networks():
    a = resnet32(10)
    b = resnet32(10)
    b.set_weights(a.get_weights())
    return a, b


@pytest.mark.parametrize("training", [False, True])
def test_outputs_and_batchnorm_statistics_match_keras_call(training):
    reference, direct = _twin_networks()
    x = _images(0)
    expected = reference(x, training=training)
    got = direct_call(direct, x, training=training)
    np.testing.assert_allclose(got.detach().numpy(), expected.detach().numpy(), rtol=1e-5, atol=1e-5)
    for v_ref, v in zip(reference.non_trainable_variables, direct.non_trainable_variables):
        np.testing.assert_allclose(np.asarray(v), np.asarray(v_ref), rtol=1e-6, atol=1e-6)


def test_gradients_match_keras_call():
    reference, direct = _twin_networks()
    x = _images(1)
    for network, forward in ((reference, lambda: reference(x, training=True)),
                             (direct, lambda: direct_call(direct, x, training=True))):
        network.zero_grad()
        forward().square().sum().backward()
    for v_ref, v in zip(reference.trainable_variables, direct.trainable_variables):
        np.testing.assert_allclose(v.value.grad.numpy(), v_ref.value.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_a_subclassed_model_goes_through_its_own_call():
    class Doubler(keras.Model):
        def call(self, inputs, training=False):
            return inputs * 2.0

    x = torch.ones(2, 3)
    np.testing.assert_array_equal(direct_call(Doubler(), x).numpy(), 2.0 * np.ones((2, 3)))
