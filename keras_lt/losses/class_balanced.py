"""Class-balanced re-weighting by the effective number of samples (Cui et al., 2019)."""

import keras
import numpy as np

from keras_lt.losses.common import class_weighted
from keras_lt.losses.common import validated_counts
from keras_lt.losses.focal import focal_losses

BASES = ("ce", "focal")


def effective_number_weights(class_counts, beta=0.9999):
    """Per-class weights `(1 - beta) / (1 - beta ** n_c)`, normalised to sum to C.

    These are the DRW weights of the LDAM-DRW code and the class-balanced weights of Cui et al.
    `beta = 0` gives uniform weights (all ones).

    Args:
        class_counts: training images per class, indexed by class id.
        beta: in `[0, 1)`; 0.9999 in the CIFAR-LT recipes.

    Returns:
        A float32 NumPy vector of C weights summing to C.

    Example:
    >>> effective_number_weights([5000, 50], beta=0.9999)  # ~[0.025, 1.975]
    """
    counts = validated_counts(class_counts)
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"beta must be in [0, 1), got {beta}.")
    weights = (1.0 - beta) / (1.0 - np.power(beta, counts))
    return (weights * len(counts) / weights.sum()).astype("float32")


@keras.saving.register_keras_serializable(package="keras_lt")
class ClassBalanced(keras.losses.Loss):
    """Softmax CE or focal loss weighted per class by `effective_number_weights` for the whole run.

    The batch value is the weighted mean `sum w_y l / sum w_y` (torch's `F.cross_entropy(weight=w)`
    convention, see `class_weighted`); the focal factor uses the unweighted `p_y`, so
    `base="focal", gamma=0` equals `base="ce"`. Cui et al. also give a sigmoid form; this is the
    softmax form used by the long-tail CIFAR baselines.

    Args:
        class_counts: training images per class, indexed by class id (any order of classes).
        beta: effective-number hyperparameter in `[0, 1)`.
        base: "ce" or "focal".
        gamma: focusing parameter, used only with `base="focal"`.
        name: name of the loss.
        **kwargs: forwarded to `keras.losses.Loss`.

    Example:
    >>> loss = ClassBalanced([500, 50, 5], beta=0.9999, base="focal", gamma=1.0)
    >>> loss(np.array([0, 2]), np.zeros((2, 3), "float32"))
    """

    def __init__(self, class_counts, beta=0.9999, base="ce", gamma=1.0, name="class_balanced", **kwargs):
        super().__init__(name=name, **kwargs)
        if base not in BASES:
            raise ValueError(f"unknown base '{base}' for ClassBalanced; choose one of: {', '.join(BASES)}.")
        self.class_counts = [int(n) for n in class_counts]
        self.beta = float(beta)
        self.base = base
        self.gamma = float(gamma)
        self.class_weight = effective_number_weights(self.class_counts, self.beta)

    def call(self, y_true, y_pred):
        gamma = self.gamma if self.base == "focal" else 0.0
        return class_weighted(focal_losses(y_true, y_pred, gamma), y_true, self.class_weight)

    def get_config(self):
        return {
            **super().get_config(),
            "class_counts": self.class_counts,
            "beta": self.beta,
            "base": self.base,
            "gamma": self.gamma,
        }
