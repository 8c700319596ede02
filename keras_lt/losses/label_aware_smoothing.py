"""Label-aware smoothing (MiSLAS, Zhong et al., 2021)."""

import math

import keras
import numpy as np
from keras import ops

from keras_lt.losses.common import sparse_softmax_cross_entropy
from keras_lt.losses.common import sparse_labels
from keras_lt.losses.common import validated_counts


def label_aware_epsilons(class_counts, eps_head, eps_tail):
    """Per-class smoothing `eps_tail + (eps_head - eps_tail) * sin(pi (n - n_min) / (2 (n_max - n_min)))`.

    MiSLAS' "concave" profile. On a balanced set (`n_max == n_min`, where the formula is 0 / 0) every
    class is a head class and gets `eps_head`.

    Args:
        class_counts: training images per class, indexed by class id.
        eps_head: smoothing of the largest class.
        eps_tail: smoothing of the smallest class.

    Returns:
        A float32 NumPy vector of C smoothing factors.

    Example:
    >>> label_aware_epsilons([5000, 2525, 50], eps_head=0.3, eps_tail=0.0)  # [0.3, 0.212, 0.0]
    """
    counts = validated_counts(class_counts)
    spread = counts.max() - counts.min()
    if spread == 0:
        return np.full(counts.shape, eps_head, dtype="float32")
    phase = math.pi * (counts - counts.min()) / (2.0 * spread)
    return (eps_tail + (eps_head - eps_tail) * np.sin(phase)).astype("float32")


@keras.saving.register_keras_serializable(package="keras_lt")
class LabelAwareSmoothing(keras.losses.Loss):
    """Label-aware smoothing: `(1 - eps_y) * (-log p_y) + eps_y * mean_k(-log p_k)`.

    `eps_y` comes from `label_aware_epsilons`: head classes are smoothed more. MiSLAS uses it in the
    classifier re-training stage; METHODS.md lists the per-dataset settings (CIFAR-100 IF100:
    0.4 / 0.1, the defaults here; CIFAR-10 IF100: 0.3 / 0.0).

    Args:
        class_counts: training images per class, indexed by class id (any order of classes).
        eps_head: smoothing of the largest class.
        eps_tail: smoothing of the smallest class.
        name: name of the loss.
        **kwargs: forwarded to `keras.losses.Loss`.

    Example:
    >>> loss = LabelAwareSmoothing([500, 50, 5], eps_head=0.4, eps_tail=0.1)
    >>> loss(np.array([0, 2]), np.zeros((2, 3), "float32"))
    """

    def __init__(self, class_counts, eps_head=0.4, eps_tail=0.1, name="label_aware_smoothing", **kwargs):
        super().__init__(name=name, **kwargs)
        self.class_counts = [int(n) for n in class_counts]
        self.eps_head = float(eps_head)
        self.eps_tail = float(eps_tail)
        self.epsilons = label_aware_epsilons(self.class_counts, self.eps_head, self.eps_tail)

    def call(self, y_true, y_pred):
        eps = ops.take(ops.convert_to_tensor(self.epsilons), sparse_labels(y_true))
        uniform = -ops.mean(ops.log_softmax(y_pred, axis=-1), axis=-1)
        return (1.0 - eps) * sparse_softmax_cross_entropy(y_true, y_pred) + eps * uniform

    def get_config(self):
        return {
            **super().get_config(),
            "class_counts": self.class_counts,
            "eps_head": self.eps_head,
            "eps_tail": self.eps_tail,
        }
