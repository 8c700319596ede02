"""Learnable per-class logit scale (LWS, Kang et al., 2020)."""

import keras


@keras.saving.register_keras_serializable(package="keras_lt")
class LogitScale(keras.layers.Layer):
    """Learnable weight scaling (LWS): `logits_j * f_j` with one trainable `f_j` per class, init 1.

    Placed after a (frozen) classifier in a classifier re-training stage (decoupling, MiSLAS,
    LCReg), it re-balances the class scores without moving the decision directions.

    Args:
        units: number of classes; must match the last axis of the input logits.
        **kwargs: forwarded to `keras.layers.Layer`.

    Example:
    >>> layer = LogitScale(10)
    >>> scaled = layer(np.ones((2, 10), "float32"))  # equal to the input at initialisation
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)

    def build(self, input_shape):
        if input_shape[-1] != self.units:
            raise ValueError(f"LogitScale({self.units}) got logits with {input_shape[-1]} classes.")
        self.scale = self.add_weight(name="scale", shape=(self.units,), initializer="ones")

    def call(self, inputs):
        return inputs * self.scale

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "units": self.units}
