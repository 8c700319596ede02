"""SubsamplePad (option-A shortcut) against NumPy striding plus zero channels on both sides."""

import keras
import numpy as np
import pytest

from keras_lt.layers import SubsamplePad


def reference(x, filters):
    """LDAM-DRW's `F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, p, p))` for channels-first NumPy input,
    with an uneven extra channel (when filters - C is odd) at the end."""
    sub = x[:, :, ::2, ::2]
    extra = filters - x.shape[1]
    out = np.zeros((x.shape[0], filters, *sub.shape[2:]), x.dtype)
    out[:, extra // 2 : extra // 2 + x.shape[1]] = sub
    return out


def numpy(x):
    return x.detach().cpu().numpy()


@pytest.mark.parametrize("channels, filters, size", [(16, 32, 8), (32, 64, 7), (3, 8, 5)])
@pytest.mark.parametrize("data_format", ["channels_first", "channels_last"])
def test_equals_numpy(channels, filters, size, data_format):
    x = np.random.default_rng(0).normal(size=(2, channels, size, size)).astype("float32")
    expected = reference(x, filters)
    layer = SubsamplePad(filters, data_format)
    if data_format == "channels_last":
        x, expected = x.transpose(0, 2, 3, 1), expected.transpose(0, 2, 3, 1)
    out = numpy(layer(x))
    np.testing.assert_array_equal(out, expected)
    assert layer.compute_output_shape(x.shape) == expected.shape
    assert layer.compute_output_shape((None, *x.shape[1:]))[1:] == expected.shape[1:]
    if channels == 16:  # the ResNet-32 case: 8 zero channels on each side
        channel_axis = 1 if data_format == "channels_first" else 3
        np.testing.assert_array_equal(np.take(out, range(8), axis=channel_axis), 0)
        np.testing.assert_array_equal(np.take(out, range(24, 32), axis=channel_axis), 0)


def test_symbolic_shape_and_config():
    inputs = keras.Input((16, None, 9))
    assert SubsamplePad(32)(inputs).shape == (None, 32, None, 5)
    layer = SubsamplePad(64, "channels_last", name="shortcut")
    config = layer.get_config()
    assert (config["filters"], config["data_format"]) == (64, "channels_last")
    assert SubsamplePad.from_config(config).get_config() == config
