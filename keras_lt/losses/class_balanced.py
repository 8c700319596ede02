"""Class-balanced re-weighting by the effective number of samples (Cui et al., 2019)."""

import keras
import numpy as np

from keras_lt.losses.common import NORMALIZATIONS
from keras_lt.losses.common import class_weighted
from keras_lt.losses.common import validated_counts
from keras_lt.losses.focal import focal_losses
from keras_lt.losses.focal import sigmoid_focal_losses

BASES = ("ce", "softmax_focal", "sigmoid_focal")


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
    """A loss weighted per class by `effective_number_weights` (Cui et al., 2019) for the whole run.

    The base loss `l`, per sample:
    - "ce": softmax cross-entropy.
    - "softmax_focal": `(1 - p_y) ** gamma * (-log p_y)` with the softmax `p_y` (unweighted), the
      form of the long-tail CIFAR baselines (LDAM-DRW's code); `gamma=0` equals "ce".
    - "sigmoid_focal": Cui et al.'s class-balanced focal loss, a sigmoid (one-vs-rest) focal loss
      summed over the C outputs (`keras_lt.losses.focal.sigmoid_focal_losses`). Their code also
      starts the classifier bias at `-log(C - 1)` for it; keras-lt models start it at 0.

    The batch value (`normalization`, see `keras_lt.losses.common.class_weighted`):
    - "weighted_mean": `sum w_y l / sum w_y`, torch's `F.cross_entropy(weight=w)` (LDAM-DRW's code,
      also its DRW phase);
    - "batch": `sum w_y l / B`, Cui et al.'s own (TF `softmax_cross_entropy(weights=w_y)`, and the
      sigmoid losses summed and divided by the number of positive labels, B).
    The weights sum to C either way. Cui et al.'s class-balanced focal is "sigmoid_focal" with
    "batch"; each zoo recipe names its base and normalisation.

    Args:
        class_counts: training images per class, indexed by class id (any order of classes).
        beta: effective-number hyperparameter in `[0, 1)`.
        base: "ce", "softmax_focal" or "sigmoid_focal".
        gamma: focusing parameter, used only by the focal bases.
        normalization: "weighted_mean" or "batch".
        name: name of the loss.
        **kwargs: forwarded to `keras.losses.Loss`.

    Example:
    >>> loss = ClassBalanced([500, 50, 5], beta=0.9999, base="sigmoid_focal", gamma=1.0, normalization="batch")
    >>> loss(np.array([0, 2]), np.zeros((2, 3), "float32"))
    """

    def __init__(
        self, class_counts, beta=0.9999, base="ce", gamma=1.0, normalization="weighted_mean", name="class_balanced",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        if base not in BASES:
            raise ValueError(f"unknown base '{base}' for ClassBalanced; choose one of: {', '.join(BASES)}.")
        if normalization not in NORMALIZATIONS:
            raise ValueError(
                f"unknown normalization '{normalization}' for ClassBalanced; choose one of: {', '.join(NORMALIZATIONS)}."
            )
        self.class_counts = [int(n) for n in class_counts]
        self.beta = float(beta)
        self.base = base
        self.gamma = float(gamma)
        self.normalization = normalization
        self.class_weight = effective_number_weights(self.class_counts, self.beta)

    def call(self, y_true, y_pred):
        if self.base == "sigmoid_focal":
            losses = sigmoid_focal_losses(y_true, y_pred, self.gamma)
        else:
            losses = focal_losses(y_true, y_pred, self.gamma if self.base == "softmax_focal" else 0.0)
        return class_weighted(losses, y_true, self.class_weight, self.normalization)

    def get_config(self):
        return {
            **super().get_config(),
            "class_counts": self.class_counts,
            "beta": self.beta,
            "base": self.base,
            "gamma": self.gamma,
            "normalization": self.normalization,
        }
