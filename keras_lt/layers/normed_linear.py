"""Cosine (normed linear) classifier."""

import keras
from keras import ops


def _unit_columns(shape, dtype=None):
    """Uniform(-1, 1) draws with every column (class weight) scaled to unit L2 norm."""
    weights = keras.random.uniform(shape, -1.0, 1.0, dtype=dtype)
    return weights / ops.norm(weights, axis=0, keepdims=True)


@keras.saving.register_keras_serializable(package="keras_lt")
class NormedLinear(keras.layers.Layer):
    """Cosine classifier: `cos_j = <x / |x|, w_j / |w_j|>`, no bias.

    The output is `scale` times the cosine similarity between features and class weights. Training
    keeps `scale = 1` (outputs in [-1, 1]): the losses that use it (LDAM, KPS) apply their own scale
    and margins. A published checkpoint sets `scale` to the loss's scale (`output_scale` in its
    architecture), so its logits rank as the cosines do and a softmax over them gives the
    probabilities the model was trained to produce instead of near-uniform ones. Initialised like the LDAM-DRW code
    (`uniform_(-1, 1).renorm_(2, 1, 1e-5).mul_(1e5)`): uniform(-1, 1) columns scaled to unit norm.
    The norm matters for training even though the output ignores it: the gradient on a class
    weight scales as `1 / |w_j|`, and weight decay acts on `|w_j|`.

    Args:
        units: number of classes.
        epsilon: added to the norms to avoid dividing by zero.
        scale: factor on the cosines (1 for training; the loss's scale in a published model).
        **kwargs: forwarded to `keras.layers.Layer`.

    Example:
    >>> layer = NormedLinear(10)
    >>> cosines = layer(np.ones((2, 64), "float32"))  # shape (2, 10), values in [-1, 1]
    """

    def __init__(self, units, epsilon=1e-12, scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.epsilon = epsilon
        self.scale = float(scale)

    def build(self, input_shape):
        self.kernel = self.add_weight(
            name="kernel",
            shape=(input_shape[-1], self.units),
            initializer=_unit_columns,
        )

    def call(self, inputs):
        # In float32 whatever the compute dtype: epsilon (1e-12) is 0 in float16, where a zero feature row
        # (a ReLU network's) divided 0 by 0.
        x = ops.cast(inputs, "float32")
        x = x / (ops.norm(x, axis=-1, keepdims=True) + self.epsilon)
        kernel = ops.cast(self.kernel, "float32")
        w = kernel / (ops.norm(kernel, axis=0, keepdims=True) + self.epsilon)
        cosines = ops.matmul(x, w)
        cosines = cosines if self.scale == 1.0 else self.scale * cosines
        return ops.cast(cosines, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "epsilon": self.epsilon, "scale": self.scale}
