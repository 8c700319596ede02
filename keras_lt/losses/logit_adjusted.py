"""Logit adjustment (Menon et al., 2021): the loss and the post-hoc correction."""

import keras
import numpy as np
from keras import ops

from keras_lt.losses.common import log_prior
from keras_lt.losses.common import sparse_softmax_cross_entropy


def posthoc_logit_adjustment(logits, class_counts, tau=1.0):
    """Post-hoc logit adjustment: `logits - tau * log(n / sum(n))`, for any trained model's outputs.

    Args:
        logits: `(B, C)` logits, a NumPy array (e.g. from `model.predict`) or a backend tensor.
        class_counts: training images per class, indexed by class id.
        tau: adjustment strength (1 is Bayes-optimal for the balanced error).

    Returns:
        Adjusted logits, NumPy for NumPy (or list) input, else a tensor; argmax them to predict.

    Example:
    >>> posthoc_logit_adjustment(np.zeros((1, 3)), [500, 50, 5]).argmax(-1)  # the rarest class
    array([2])
    """
    shift = tau * log_prior(class_counts)
    if ops.is_tensor(logits):
        return logits - ops.convert_to_tensor(shift, dtype=logits.dtype)
    return np.asarray(logits) - shift


@keras.saving.register_keras_serializable(package="keras_lt")
class LogitAdjusted(keras.losses.Loss):
    """Logit-adjusted loss: cross-entropy on `logits + tau * log(n / sum(n))`.

    At inference use the raw logits (the adjustment is part of training only); `tau = 1` is
    Balanced Softmax.

    Args:
        class_counts: training images per class, indexed by class id (any order of classes).
        tau: adjustment strength.
        name: name of the loss.
        **kwargs: forwarded to `keras.losses.Loss`.

    Example:
    >>> loss = LogitAdjusted([500, 50, 5], tau=1.0)
    >>> loss(np.array([0, 2]), np.zeros((2, 3), "float32"))
    """

    def __init__(self, class_counts, tau=1.0, name="logit_adjusted", **kwargs):
        super().__init__(name=name, **kwargs)
        self.class_counts = [int(n) for n in class_counts]
        self.tau = float(tau)
        self._shift = self.tau * log_prior(self.class_counts)

    def call(self, y_true, y_pred):
        return sparse_softmax_cross_entropy(y_true, y_pred + ops.convert_to_tensor(self._shift))

    def get_config(self):
        return {**super().get_config(), "class_counts": self.class_counts, "tau": self.tau}
