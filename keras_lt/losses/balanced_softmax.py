"""Balanced Softmax (Ren et al., 2020)."""

import keras
import numpy as np
from keras import ops


def log_prior(class_counts):
    """`log(n_c / sum(n))` as a float32 NumPy vector; validates the counts."""
    counts = np.asarray(class_counts, dtype="float64")
    if counts.ndim != 1 or np.any(counts <= 0):
        raise ValueError("class_counts must be a 1-D list of positive training counts per class.")
    return np.log(counts / counts.sum()).astype("float32")


def sparse_softmax_cross_entropy(labels, logits):
    """Per-sample `-log softmax(logits)[label]` for integer labels."""
    labels = ops.cast(ops.reshape(labels, (-1,)), "int32")
    return ops.sparse_categorical_crossentropy(labels, logits, from_logits=True)


@keras.saving.register_keras_serializable(package="keras_lt")
class BalancedSoftmax(keras.losses.Loss):
    """Balanced Softmax: cross-entropy on `logits + log(n / sum(n))`.

    Args:
        class_counts: training images per class, indexed by class id (any order of classes).
        name: name of the loss.
        **kwargs: forwarded to `keras.losses.Loss` (e.g. `reduction`).

    Example:
    >>> loss = BalancedSoftmax([500, 50, 5])
    >>> loss(np.array([0, 2]), np.zeros((2, 3), "float32"))
    """

    def __init__(self, class_counts, name="balanced_softmax", **kwargs):
        super().__init__(name=name, **kwargs)
        self.class_counts = [int(n) for n in class_counts]
        self._log_prior = log_prior(self.class_counts)

    def call(self, y_true, y_pred):
        return sparse_softmax_cross_entropy(y_true, y_pred + ops.convert_to_tensor(self._log_prior))

    def get_config(self):
        return {**super().get_config(), "class_counts": self.class_counts}
