"""Cosine (normed linear) classifier."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_lt")
class NormedLinear(keras.layers.Layer):
    """Cosine classifier: `cos_j = <x / |x|, w_j / |w_j|>`, no bias.

    The output is the cosine similarity between features and class weights, in [-1, 1]; losses that
    use it (LDAM, KPS) apply their own scale. Initialised like the LDAM-DRW code: uniform(-1, 1).

    Args:
        units: number of classes.
        epsilon: added to the norms to avoid dividing by zero.
        **kwargs: forwarded to `keras.layers.Layer`.

    Example:
    >>> layer = NormedLinear(10)
    >>> cosines = layer(np.ones((2, 64), "float32"))  # shape (2, 10), values in [-1, 1]
    """

    def __init__(self, units, epsilon=1e-12, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.epsilon = epsilon

    def build(self, input_shape):
        self.kernel = self.add_weight(
            name="kernel",
            shape=(input_shape[-1], self.units),
            initializer=keras.initializers.RandomUniform(-1.0, 1.0),
        )

    def call(self, inputs):
        x = inputs / (ops.norm(inputs, axis=-1, keepdims=True) + self.epsilon)
        w = self.kernel / (ops.norm(self.kernel, axis=0, keepdims=True) + self.epsilon)
        return ops.matmul(x, w)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "epsilon": self.epsilon}
