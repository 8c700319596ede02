"""Implicit semantic data augmentation (ISDA, Wang et al., 2019) and LCReg's latent variant.

ISDA replaces sampling feature perturbations from `N(0, lam * Sigma_y)` by the upper bound of the
expected cross-entropy, a CE on the augmented logits

    z'_j = z_j + lam / 2 * (w_j - w_y)^T Sigma_y (w_j - w_y)

of a linear classifier `z = W a + b` (rows `w_j`), with `Sigma_y` the class-conditional feature
covariance estimated online (`ISDACovariance`). LCReg (METHODS.md, eq. 5-6) applies it to its latent
categories: the samples are the projected latents `g(P_m)`, their classes the latent ids m, the
classifier the latent classifier h, and `Sigma_m` the covariance of the spatial features assigned to
latent m (`keras_lt.layers.LatentCategoryReconstruction`). `lam = lam0 * t / T` ramps over the
iterations (`keras_lt.callbacks.ISDARamp`; ISDA's lam0 = 0.5).

Not a `--loss`: it needs a classifier's weights and a covariance state, so a trainer calls it
(`keras_lt.trainers.LatentISDA`).
"""

import keras
import torch
from keras import ops

from keras_lt.errors import KerasLTError


def isda_logits(logits, labels, weight, covariance, lam):
    """ISDA's augmented logits `z_j + lam / 2 * (w_j - w_y)^T Sigma_y (w_j - w_y)`.

    Args:
        logits: `(N, C)` logits `z`.
        labels: `(N,)` integer classes `y`; None when sample i is of class i (`N = C`, LCReg's one
            latent sample per latent category), which spares a per-sample copy of the covariances
            (`C * D**2` floats: 1.68 GB for 100 classes at D = 2048).
        weight: `(C, D)` classifier weights, one row `w_j` per class (gradients flow through it).
        covariance: `(C, D, D)` class covariances (used as constants).
        lam: augmentation strength (a float or a scalar tensor).

    Returns:
        `(N, C)` augmented logits (`z'_y = z_y`).

    Example:
    >>> z = isda_logits(logits, labels, kernel.T, estimator.covariance, lam=0.25)
    """
    sigma = ops.stop_gradient(ops.convert_to_tensor(covariance))
    own_weight = weight
    if labels is not None:
        labels = ops.cast(labels, "int32")
        own_weight = ops.take(weight, labels, axis=0)
        sigma = ops.take(sigma, labels, axis=0)  # (N, D, D)
    diff = weight[None, :, :] - own_weight[:, None, :]  # (N, C, D)
    quadratic = ops.sum(ops.matmul(diff, sigma) * diff, axis=-1)  # (N, C)
    return logits + 0.5 * ops.cast(lam, logits.dtype) * quadratic


def isda_loss(logits, labels, weight, covariance, lam):
    """Mean cross-entropy of `isda_logits` (the ISDA surrogate loss), a scalar; arguments as there.

    Example:
    >>> loss = isda_loss(layer.latent_logits(), None, ops.transpose(layer.latent_kernel),  # latent m is class m
    ...                  estimator.covariance, lam)
    """
    augmented = isda_logits(logits, labels, weight, covariance, lam)
    log_p = ops.log_softmax(augmented, axis=-1)
    if labels is None:
        return -ops.mean(ops.diagonal(log_p))
    return -ops.mean(ops.take_along_axis(log_p, ops.cast(labels, "int32")[:, None], axis=-1))


@keras.saving.register_keras_serializable(package="keras_lt")
class ISDACovariance(keras.layers.Layer):
    """Online per-class feature mean and covariance with ISDA's count-weighted update.

    For every class c with `n` new features in a batch (batch mean `mu_b`, population covariance
    `Sigma_b`) and `N` seen before (`mu`, `Sigma`), with `w = n / (N + n)`:

        Sigma <- (1 - w) Sigma + w Sigma_b + w (1 - w) (mu - mu_b)(mu - mu_b)^T
        mu    <- (1 - w) mu + w mu_b,        N <- N + n

    so `Sigma` is exactly the population covariance (`np.cov(..., bias=True)`) of all the features
    of the class seen so far. The state (`mean` (C, D), `covariance` (C, D, D), `count` (C,), float32;
    counts are exact up to 2**24 per class) is non-trainable, so a trainer that owns this layer
    carries it through `keras_lt.callbacks.Backup` and `--resume`. Gradients never flow into it.

    Memory: the state is `C * D**2` floats, 16 kB per class at CIFAR ResNets' `D = 64` (655 kB for
    LCReg's 40 latent categories) but 16.8 MB per class at ResNet-50 / ResNeXt-50's `D = 2048`: 1.68 GB
    for ImageNet-LT's M = 100, 3.36 GB for iNaturalist's M = 200, on the device and in every
    backup (not in the published network); `isda_logits` with labels gathers one such matrix per
    sample (LCReg's latent samples need none: `labels=None`). An update adds, while its `N x C*D` block matrix stays under `max_block_bytes`,
    that block, the batch covariances `(C, D, D)` and a few temporaries of the state's size (CIFAR:
    105 MB for 8192 positions, 50 classes, 64 channels): one matmul stacks every class's scatter
    matrix. Larger updates go one present class at a time, adding a sorted copy of the features
    (`N x D`) and a few `D x D` temporaries to the state: at `D = 2048` and 3136 positions
    (batch 64 x 7 x 7) the block alone would be 2.6 GB for M = 100 and 10.3 GB at batch 256
    (`benchmarks/isda_memory.py`).

    Args:
        num_classes: number of classes C (LCReg: the number of latent categories).
        dim: feature dimension D.
        max_block_bytes: the largest block matrix (`4 * N * C * D` bytes) an update builds; updates
            whose block would be larger go class by class (the same statistics, up to float
            rounding). The default keeps CIFAR ResNets (and 2-process runs of them) on the block.
        **kwargs: forwarded to `keras.layers.Layer`.

    Example:
    >>> estimator = ISDACovariance(40, 64)
    >>> estimator.update(features, assignment)  # (N, 64) float, (N,) int
    >>> estimator.covariance                     # (40, 64, 64)
    >>> wide = ISDACovariance(100, 2048, max_block_bytes=2**26)  # ResNeXt-50 features, class by class
    """

    def __init__(self, num_classes, dim, max_block_bytes=2**28, **kwargs):
        super().__init__(**kwargs)
        if int(max_block_bytes) < 0:
            raise KerasLTError(f"max_block_bytes must be >= 0, got {max_block_bytes}.")
        self.num_classes = int(num_classes)
        self.dim = int(dim)
        self.max_block_bytes = int(max_block_bytes)
        c, d = self.num_classes, self.dim
        self.mean = self.add_weight(shape=(c, d), initializer="zeros", trainable=False, name="mean")
        self.covariance = self.add_weight(shape=(c, d, d), initializer="zeros", trainable=False, name="covariance")
        self.count = self.add_weight(shape=(c,), initializer="zeros", trainable=False, name="count")
        self.built = True

    def update(self, features, labels):
        """Adds a batch of `(N, D)` features with their `(N,)` integer classes to the estimate.

        Args:
            features: `(N, D)` features (no gradient flows back).
            labels: `(N,)` integer classes in `[0, C)`.

        Example:
        >>> estimator.update(torch.randn(8192, 64), torch.randint(0, 40, (8192,)))
        """
        features = ops.stop_gradient(ops.cast(features, "float32"))
        labels = ops.cast(labels, "int32")
        if 4 * ops.shape(features)[0] * self.num_classes * self.dim <= self.max_block_bytes:
            self._update_all_classes(features, labels)
        else:
            self._update_per_class(features, labels)

    def _update_all_classes(self, features, labels):
        """The update with one `N x C*D` block matrix: every class's scatter matrix in one matmul."""
        c, d = self.num_classes, self.dim
        one_hot = ops.one_hot(labels, c, dtype="float32")  # (N, C)
        new = ops.sum(one_hot, axis=0)  # (C,)
        safe = ops.maximum(new, 1.0)
        batch_mean = ops.matmul(ops.transpose(one_hot), features) / safe[:, None]
        centered = features - ops.matmul(one_hot, batch_mean)
        # Row i holds centered_i in the block of its class: blocks^T centered stacks the C scatter matrices.
        blocks = ops.reshape(one_hot[:, :, None] * centered[:, None, :], (-1, c * d))
        batch_cov = ops.reshape(ops.matmul(ops.transpose(blocks), centered), (c, d, d)) / safe[:, None, None]
        w = ops.where(new > 0, new / (new + self.count), 0.0)  # (C,)
        shift = self.mean - batch_mean
        self.covariance.assign(
            self.covariance * (1.0 - w)[:, None, None]
            + batch_cov * w[:, None, None]
            + (w * (1.0 - w))[:, None, None] * shift[:, :, None] * shift[:, None, :]
        )
        self.mean.assign(self.mean * (1.0 - w)[:, None] + batch_mean * w[:, None])
        self.count.assign_add(new)

    def _update_per_class(self, features, labels):
        """The update one present class at a time, in place: temporaries of `N x D` and `D x D` floats.

        Torch code on purpose: its point is writing class rows of the state in place, and
        `keras.ops.slice_update` / `scatter_update` return a new tensor (a clone of the whole
        `(C, D, D)` state on torch: 1.68 GB per class at ImageNet-LT's width), so `keras.ops` cannot
        express it. The block path above is `keras.ops` and serves every backend at CIFAR width.
        """
        new = torch.bincount(labels, minlength=self.num_classes)
        sizes = new.tolist()
        groups = features[torch.argsort(labels, stable=True)].split(sizes)
        mean, covariance, count = self.mean.value, self.covariance.value, self.count.value
        with torch.no_grad():
            for c, members in enumerate(groups):
                if not sizes[c]:
                    continue
                batch_mean = members.mean(0)
                centered = members - batch_mean
                w = new[c] / (new[c] + count[c])
                shift = mean[c] - batch_mean
                covariance[c] = (covariance[c] * (1.0 - w) + (centered.T @ centered) * (w / new[c])
                                 + torch.outer(shift, shift) * (w * (1.0 - w)))
                mean[c] = mean[c] * (1.0 - w) + batch_mean * w
            count += new

    def call(self, inputs):
        return inputs

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "dim": self.dim,
                "max_block_bytes": self.max_block_bytes}
