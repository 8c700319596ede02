"""BatchNorm against torch.nn.BatchNorm2d (momentum 0.1, eps 1e-5): outputs, running stats, grads."""

import keras
import numpy as np
import pytest
import torch

from keras_lt.layers import BatchNorm

RNG = np.random.default_rng(0)
CHANNELS = 4


def batch(seed):
    return np.random.default_rng(seed).normal(2.0, 3.0, size=(6, CHANNELS, 5, 5)).astype("float32")


def pair(axis=1):
    """A built BatchNorm and a torch BatchNorm2d with the same random gamma and beta."""
    layer = BatchNorm(axis=axis)
    layer.build((None, CHANNELS, 5, 5) if axis == 1 else (None, 5, 5, CHANNELS))
    gamma = RNG.normal(1.0, 0.3, CHANNELS).astype("float32")
    beta = RNG.normal(0.0, 0.5, CHANNELS).astype("float32")
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)
    reference = torch.nn.BatchNorm2d(CHANNELS, eps=1e-5, momentum=0.1)
    with torch.no_grad():
        reference.weight.copy_(torch.from_numpy(gamma))
        reference.bias.copy_(torch.from_numpy(beta))
    return layer, reference


def numpy(x):
    """A torch tensor or Keras variable as NumPy (`convert_to_numpy` warns on grad tensors)."""
    return (x.value if isinstance(x, keras.Variable) else x).detach().cpu().numpy()


def assert_same_stats(layer, reference):
    np.testing.assert_allclose(numpy(layer.moving_mean), reference.running_mean.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(numpy(layer.moving_variance), reference.running_var.numpy(), rtol=1e-5)


@pytest.mark.parametrize("axis", [1, -1])
def test_training_then_inference_equal_torch(axis):
    layer, reference = pair(axis)
    as_layout = (lambda x: x) if axis == 1 else (lambda x: np.transpose(x, (0, 2, 3, 1)))
    reference.train()
    for seed in (1, 2):  # two steps: the running stats move twice, with the unbiased variance
        x = batch(seed)
        expected = reference(torch.from_numpy(x)).detach().numpy()
        np.testing.assert_allclose(numpy(layer(as_layout(x), training=True)), as_layout(expected), atol=1e-5)
        assert_same_stats(layer, reference)
    reference.eval()
    x = batch(3)
    expected = reference(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(numpy(layer(as_layout(x), training=False)), as_layout(expected), atol=1e-5)
    np.testing.assert_allclose(numpy(layer(as_layout(x))), as_layout(expected), atol=1e-5)
    assert_same_stats(layer, reference)


def test_running_variance_is_unbiased():
    layer = BatchNorm()
    x = batch(4)
    layer(x, training=True)
    unbiased = x.transpose(1, 0, 2, 3).reshape(CHANNELS, -1).var(axis=1, ddof=1)
    np.testing.assert_allclose(numpy(layer.moving_variance), 0.9 * 1.0 + 0.1 * unbiased, rtol=1e-5)
    np.testing.assert_allclose(numpy(layer.moving_mean), 0.1 * x.mean(axis=(0, 2, 3)), rtol=1e-5)


def test_frozen_layer_uses_running_stats_even_in_training():
    layer, reference = pair()
    reference.train()
    x = batch(5)
    layer(x, training=True)
    reference(torch.from_numpy(x))
    layer.trainable = False
    reference.eval()
    x = batch(6)
    expected = reference(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(numpy(layer(x, training=True)), expected, atol=1e-5)
    assert_same_stats(layer, reference)  # not updated by the frozen call


def test_gradients_equal_torch():
    layer, reference = pair()
    x = batch(7)
    weights = np.random.default_rng(8).normal(size=x.shape).astype("float32")
    x_keras = torch.tensor(x, requires_grad=True)
    (layer(x_keras, training=True) * torch.from_numpy(weights)).sum().backward()
    x_torch = torch.tensor(x, requires_grad=True)
    (reference(x_torch) * torch.from_numpy(weights)).sum().backward()
    np.testing.assert_allclose(layer.gamma.value.grad.numpy(), reference.weight.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(layer.beta.value.grad.numpy(), reference.bias.grad.numpy(), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(x_keras.grad.numpy(), x_torch.grad.numpy(), rtol=1e-4, atol=1e-5)
    assert layer.moving_mean.value.grad is None


def test_config_round_trip_and_saving(tmp_path):
    layer = BatchNorm(axis=1, name="bn", center=False)
    config = layer.get_config()
    assert (config["axis"], config["momentum"], config["epsilon"], config["center"]) == (1, 0.9, 1e-5, False)
    assert BatchNorm.from_config(config).get_config() == config
    inputs = keras.Input((CHANNELS, 5, 5))
    model = keras.Model(inputs, BatchNorm(name="bn")(inputs))
    model(batch(9), training=True)  # moves the running stats away from 0 / 1
    model.save(tmp_path / "bn.keras")
    restored = keras.saving.load_model(tmp_path / "bn.keras")
    assert isinstance(restored.get_layer("bn"), BatchNorm)
    x = batch(10)
    np.testing.assert_allclose(numpy(restored(x)), numpy(model(x)), atol=1e-6)
