"""Latent category reconstruction (LCReg, Liu et al.): features re-represented by shared latent parts."""

import keras
from keras import ops

RECONSTRUCTION_REDUCTIONS = ("mean", "sum")


def _kaiming_normal():
    return keras.initializers.VarianceScaling(2.0, "fan_in", "untruncated_normal")


@keras.saving.register_keras_serializable(package="keras_lt")
class LatentCategoryReconstruction(keras.layers.Layer):
    """Reconstructs a spatial feature map from a learnable pool of class-agnostic latent categories.

    For features `f` (D channels at every position (a, b)) the layer holds a latent pool `P` (M x D,
    random normal init), a 1x1 projection `g(p) = p W_g + b_g` (D -> D) and a linear latent
    classifier `h(u) = u W_h + b_h` (D -> M) whose target for latent m is m (LCReg eq. 1-6; our
    reading, METHODS.md):

    - similarity `S_m(a, b) = sigmoid(f(a, b) . g(P_m))` (eq. 1);
    - weights `S^_m(a, b) = softmax_m S_m(a, b)` (eq. 2);
    - reconstruction `f^(a, b) = sum_m S^_m(a, b) g(P_m)` (eq. 3).

    `call` returns `(f^, S^)`, both in the input's data format (`S^` has M channels). The latent
    category that wins at a position is `argmax_m S^_m(a, b)` (`assignment`); it is what the
    latent ISDA covariance is estimated on and what `keras_lt.latent_usage` draws.

    `reconstruction_loss(f, f^)` is eq. 4: per image the correlation `C = f^T f` (HW x HW,
    `C[i, j] = f^(i) . f(j)`), and a cross-entropy of each row of `C` with its own position as the
    target; the HW positions' terms are averaged (`reduction="mean"`, our reading) or summed
    (`"sum"`, eq. 4's literal `sum_j`, HW times larger), then averaged over the images.
    `latent_logits()` is `h(g(P))` (M x M), the input of the latent ISDA loss
    (`keras_lt.losses.isda_loss`).

    The layer uses `keras.ops` only and works on any backbone's spatial feature map; keras-lt's
    models put it before global pooling when their architecture has `"latent_categories": M`.

    Args:
        num_latents: number of latent categories M (LCReg: 40 for CIFAR-10, 50 for CIFAR-100).
        data_format: "channels_last" (`(B, H, W, D)`) or "channels_first" (`(B, D, H, W)`).
        pool_initializer: initializer of the latent pool.
        **kwargs: forwarded to `keras.layers.Layer`.

    Example:
    >>> layer = LatentCategoryReconstruction(40, data_format="channels_first")
    >>> reconstruction, weights = layer(features)          # features (B, 64, 8, 8)
    >>> loss = layer.reconstruction_loss(features, reconstruction)
    >>> regions = layer.assignment(weights)                # (B, 8, 8) latent ids
    """

    def __init__(self, num_latents, data_format="channels_last", pool_initializer="random_normal", **kwargs):
        super().__init__(**kwargs)
        if num_latents < 1:
            raise ValueError(f"num_latents must be >= 1, got {num_latents}.")
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError(f"data_format must be channels_last or channels_first, got {data_format}.")
        self.num_latents = int(num_latents)
        self.data_format = data_format
        self.pool_initializer = keras.initializers.get(pool_initializer)

    @property
    def channel_axis(self):
        return 1 if self.data_format == "channels_first" else -1

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(f"LatentCategoryReconstruction expects a 4-D feature map, got shape {input_shape}.")
        dim = int(input_shape[self.channel_axis])
        m = self.num_latents
        self.pool = self.add_weight(name="pool", shape=(m, dim), initializer=self.pool_initializer)
        self.projection_kernel = self.add_weight(
            name="projection_kernel", shape=(dim, dim), initializer=_kaiming_normal()
        )
        self.projection_bias = self.add_weight(name="projection_bias", shape=(dim,), initializer="zeros")
        self.latent_kernel = self.add_weight(name="latent_kernel", shape=(dim, m), initializer=_kaiming_normal())
        self.latent_bias = self.add_weight(name="latent_bias", shape=(m,), initializer="zeros")

    def projected_latents(self):
        """`g(P)`: the projected latent categories, `(M, D)`."""
        return ops.matmul(self.pool, self.projection_kernel) + self.projection_bias

    def latent_logits(self):
        """`h(g(P))`: the latent classifier's logits of every latent category, `(M, M)`."""
        return ops.matmul(self.projected_latents(), self.latent_kernel) + self.latent_bias

    def _channels_last(self, x):
        return ops.transpose(x, (0, 2, 3, 1)) if self.data_format == "channels_first" else x

    def _from_channels_last(self, x):
        return ops.transpose(x, (0, 3, 1, 2)) if self.data_format == "channels_first" else x

    def call(self, inputs):
        latents = self.projected_latents()  # (M, D)
        features = self._channels_last(inputs)  # (B, H, W, D)
        weights = ops.softmax(ops.sigmoid(ops.matmul(features, ops.transpose(latents))), axis=-1)
        reconstruction = ops.matmul(weights, latents)  # (B, H, W, D)
        return self._from_channels_last(reconstruction), self._from_channels_last(weights)

    def compute_output_shape(self, input_shape):
        weights_shape = list(input_shape)
        weights_shape[self.channel_axis] = self.num_latents
        return tuple(input_shape), tuple(weights_shape)

    def assignment(self, weights):
        """The winning latent category per position: `argmax_m S^_m`, `(B, H, W)` int."""
        return ops.argmax(weights, axis=self.channel_axis)

    def reconstruction_loss(self, features, reconstruction, reduction="mean"):
        """LCReg eq. 4: the CE of the rows of `C = f^T f` against their own position, per image.

        Args:
            features: the layer's input `f`.
            reconstruction: the layer's first output `f^`.
            reduction: "mean" (over the HW positions) or "sum" (eq. 4's `sum_j`); then the mean
                over the images.

        Returns:
            A scalar.
        """
        if reduction not in RECONSTRUCTION_REDUCTIONS:
            raise ValueError(f"reduction must be one of {', '.join(RECONSTRUCTION_REDUCTIONS)}, got '{reduction}'.")
        f = self._channels_last(features)
        f_hat = self._channels_last(reconstruction)
        shape = ops.shape(f)
        positions = shape[1] * shape[2]
        f = ops.reshape(f, (shape[0], positions, shape[3]))
        f_hat = ops.reshape(f_hat, (shape[0], positions, shape[3]))
        correlation = ops.matmul(f_hat, ops.transpose(f, (0, 2, 1)))  # (B, HW, HW), rows: f^(i)
        nll = -ops.diagonal(ops.log_softmax(correlation, axis=-1), axis1=1, axis2=2)  # (B, HW)
        return ops.mean(ops.sum(nll, axis=-1)) if reduction == "sum" else ops.mean(nll)

    def get_config(self):
        return {
            **super().get_config(),
            "num_latents": self.num_latents,
            "data_format": self.data_format,
            "pool_initializer": keras.initializers.serialize(self.pool_initializer),
        }
