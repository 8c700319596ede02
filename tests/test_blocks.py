"""Tests keras_lt.models.blocks: torch-style convs, BatchNorm, Kaiming init, preprocessing, the classifier head."""

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np
import pytest

from keras_lt.errors import UnknownModelError
from keras_lt.layers import BatchNorm
from keras_lt.layers import LogitScale
from keras_lt.layers import NormedLinear
from keras_lt.models import blocks

numpy = keras.ops.convert_to_numpy


def numpy_conv(x, kernel, stride, padding, groups):
    """torch's `conv2d(x, w, stride=stride, padding=padding, groups=groups)` written out (NCHW).

    `kernel` is in Keras' layout `(kh, kw, in / groups, out)`.
    """
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    kh, kw, group_in, out = kernel.shape
    group_out = out // groups
    height, width = (x.shape[2] - kh) // stride + 1, (x.shape[3] - kw) // stride + 1
    y = np.zeros((x.shape[0], out, height, width))
    for o in range(out):
        channels = slice(o // group_out * group_in, (o // group_out + 1) * group_in)
        for i in range(height):
            for j in range(width):
                patch = x[:, channels, i * stride:i * stride + kh, j * stride:j * stride + kw]
                y[:, o, i, j] = np.einsum("bcuv,uvc->b", patch, kernel[:, :, :, o])
    return y


@pytest.mark.parametrize("kernel_size, strides, groups", [(3, 1, 1), (3, 2, 1), (1, 2, 1), (7, 2, 1), (3, 2, 2)])
def test_conv_is_torchs_bias_free_conv_with_symmetric_padding(kernel_size, strides, groups):
    """An even input size: Keras' own "same" with stride 2 would pad after the image only."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4, 6, 6))
    model = keras.Model(inputs, blocks.conv(inputs, 6, kernel_size, strides, name="conv", groups=groups))
    layer = model.get_layer("conv")
    assert [w.path for w in layer.weights] == ["conv/kernel"]
    x = np.random.default_rng(1).normal(size=(2, 4, 6, 6))
    expected = numpy_conv(x, numpy(layer.kernel).astype(np.float64), strides, kernel_size // 2, groups)
    np.testing.assert_allclose(numpy(model(x.astype("float32"))), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode, fan", [("fan_in", 3 * 3 * 32), ("fan_out", 3 * 3 * 64)])
def test_kaiming_normal_has_the_relu_gain_and_is_untruncated(mode, fan):
    keras.utils.set_random_seed(0)
    kernel = numpy(blocks.kaiming_normal(mode)((3, 3, 32, 64)))  # 18,432 draws
    std = np.sqrt(2.0 / fan)
    np.testing.assert_allclose(kernel.std(), std, rtol=0.02)
    assert abs(kernel.mean()) < 0.03 * std
    # a normal has 4.55% of its draws beyond 2 std; a truncated one none
    assert np.mean(np.abs(kernel) > 2 * std) == pytest.approx(0.0455, abs=0.005)


def test_batch_norm_has_torchs_epsilon_and_momentum_on_the_channel_axis():
    inputs = keras.Input((3, 2, 2))
    model = keras.Model(inputs, blocks.batch_norm(inputs, name="bn"))
    layer = model.get_layer("bn")
    assert isinstance(layer, BatchNorm) and layer.axis == 1
    rng = np.random.default_rng(0)
    gamma, beta, mean, variance = rng.uniform(0.5, 1.5, (4, 3))
    layer.set_weights([gamma, beta, mean, variance])
    x = rng.normal(size=(5, 3, 2, 2)).astype("float32")
    c = (None, slice(None), None, None)  # broadcast a per-channel vector over (B, C, H, W)
    expected = gamma[c] * (x - mean[c]) / np.sqrt(variance[c] + 1e-5) + beta[c]
    np.testing.assert_allclose(numpy(model(x, training=False)), expected, rtol=1e-5, atol=1e-5)
    model(x, training=True)  # torch momentum 0.1; the running variance from the unbiased batch variance
    np.testing.assert_allclose(numpy(layer.moving_mean), 0.9 * mean + 0.1 * x.mean((0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(numpy(layer.moving_variance), 0.9 * variance + 0.1 * x.var((0, 2, 3), ddof=1), rtol=1e-5)
    zeros = keras.Model(inputs, blocks.batch_norm(inputs, name="bn_zero", gamma_initializer="zeros"))
    np.testing.assert_array_equal(numpy(zeros.get_layer("bn_zero").gamma), np.zeros(3))


def test_relu():
    inputs = keras.Input((3,))
    x = np.array([[-2.0, 0.0, 1.5]], "float32")
    np.testing.assert_array_equal(numpy(keras.Model(inputs, blocks.relu(inputs))(x)), [[0.0, 0.0, 1.5]])


def test_preprocess_normalises_each_channel_then_goes_channels_first():
    mean, std = (0.3, 0.5, 0.7), (0.2, 0.25, 0.1)
    inputs = keras.Input((4, 5, 3))
    model = keras.Model(inputs, blocks.preprocess(inputs, mean, std))
    assert [layer.name for layer in model.layers[1:]] == ["normalize", "to_channels_first"]
    images = np.random.default_rng(1).integers(0, 256, size=(2, 4, 5, 3), dtype=np.uint8)
    expected = ((images / 255.0 - np.array(mean)) / np.array(std)).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(numpy(model(images)), expected, atol=1e-5)


@pytest.mark.parametrize("classifier", ["linear", "cosine"])
def test_classifier_head_pools_classifies_and_scales(classifier):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4, 3, 2))  # a channels-first feature map
    plain = keras.Model(inputs, blocks.classifier_head(inputs, 5, classifier))
    scaled = keras.Model(inputs, blocks.classifier_head(inputs, 5, classifier, logit_scale=True))
    assert plain.layers[-1].name == "classifier" and isinstance(scaled.layers[-1], LogitScale)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 4, 3, 2)).astype("float32")
    features = x.astype(np.float64).mean((2, 3))
    for model in (plain, scaled):
        head = model.get_layer("classifier")
        kernel = numpy(head.kernel).astype(np.float64)
        if classifier == "linear":
            assert isinstance(head, keras.layers.Dense)
            expected = features @ kernel + numpy(head.bias)
        else:
            assert isinstance(head, NormedLinear)
            unit = features / np.linalg.norm(features, axis=1, keepdims=True)
            expected = unit @ (kernel / np.linalg.norm(kernel, axis=0, keepdims=True))
        if model is scaled:
            scale = rng.uniform(0.5, 2.0, 5)
            model.get_layer("logit_scale").scale.assign(scale)
            expected = expected * scale
        np.testing.assert_allclose(numpy(model(x)), expected, rtol=1e-5, atol=1e-6)


def test_an_unknown_classifier_is_one_line():
    with pytest.raises(UnknownModelError, match="^classifier must be 'linear' or 'cosine', got 'mlp'.$"):
        blocks.classifier_head(keras.Input((4, 3, 2)), 5, "mlp")
