"""The parameter-free "option A" shortcut of the CIFAR ResNets."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_lt")
class SubsamplePad(keras.layers.Layer):
    """Shortcut that halves the spatial size by striding and zero-pads the channels.

    This is option A of He et al. (2016) for CIFAR, as in the LDAM-DRW ResNet-32: `x[:, :, ::2, ::2]`
    with `(filters - channels)` zero channels split evenly on both sides.

    Args:
        filters: number of output channels.
        data_format: "channels_first" or "channels_last".
        **kwargs: forwarded to `keras.layers.Layer`.

    Example:
    >>> SubsamplePad(32, "channels_first")(np.ones((1, 16, 8, 8), "float32")).shape
    (1, 32, 4, 4)
    """

    def __init__(self, filters, data_format="channels_first", **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.data_format = data_format

    def _channel_axis(self):
        return 1 if self.data_format == "channels_first" else 3

    def call(self, inputs):
        if self.data_format == "channels_first":
            x = inputs[:, :, ::2, ::2]
        else:
            x = inputs[:, ::2, ::2, :]
        axis = self._channel_axis()
        extra = self.filters - x.shape[axis]
        # Zero channels concatenated on both sides: `ops.pad`'s values, without the Operation it builds per call.
        zero_channel = ops.zeros_like(x[:, :1] if axis == 1 else x[..., :1])

        def zeros(count):
            return ops.broadcast_to(zero_channel, (*x.shape[:axis], count, *x.shape[axis + 1:]))

        return ops.concatenate([zeros(extra // 2), x, zeros(extra - extra // 2)], axis=axis)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        axis = self._channel_axis()
        for spatial in (2, 3) if axis == 1 else (1, 2):
            shape[spatial] = None if shape[spatial] is None else (shape[spatial] + 1) // 2
        shape[axis] = self.filters
        return tuple(shape)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "data_format": self.data_format}
