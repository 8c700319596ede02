"""Focal loss (Lin et al., 2017): the softmax form (a `Focal` loss) and the sigmoid form (Cui et al.'s)."""

import keras
from keras import ops

from keras_lt.losses.common import sparse_labels
from keras_lt.losses.common import sparse_softmax_cross_entropy
from keras_lt.losses.common import class_weight_config
from keras_lt.losses.common import class_weighted

MIN_MODULATED = 1e-7  # the least `1 - p_y` a focal loss with gamma < 1 takes (`focal_losses`)


def focal_losses(y_true, logits, gamma):
    """Per-sample softmax focal loss `(1 - p_y) ** gamma * (-log p_y)`; `gamma = 0` is CE.

    Below `gamma = 1`, `x ** gamma` has an infinite slope at `x = 0`: `1 - p_y` is held at
    `MIN_MODULATED` or above, so a sample fit to `p_y = 1` (a logit margin of about 17 in float32)
    adds a zero gradient, not a NaN for the whole batch (the value moves by less than 1e-7 of it).
    """
    nll = sparse_softmax_cross_entropy(y_true, logits)
    if gamma == 0:
        return nll
    modulated = 1.0 - ops.exp(-nll)
    if gamma < 1:
        modulated = ops.maximum(modulated, MIN_MODULATED)
    return ops.power(modulated, gamma) * nll


def sigmoid_focal_losses(y_true, logits, gamma):
    """Per-sample sigmoid focal loss, summed over the C one-vs-rest outputs (Lin et al.; Cui et al.'s code).

    With `p_j = sigmoid(z_j)`, `t = onehot(y)` and `p_t = p_j` where `t_j = 1` else `1 - p_j`:
    `l = sum_j (1 - p_t,j) ** gamma * BCE(z_j, t_j)`, the modulator in the stable form of
    richardaecn/class-balanced-loss (`focal_loss` in `src/cifar_main.py`):
    `exp(-gamma t z - gamma log(1 + exp(-z)))`. `gamma = 0` is the sigmoid (binary) CE.

    Example:
    >>> sigmoid_focal_losses(np.array([0, 2]), np.zeros((2, 3), "float32"), 1.0)  # 3 * 0.5 * log 2 each
    """
    targets = ops.one_hot(sparse_labels(y_true), ops.shape(logits)[-1], dtype=logits.dtype)
    bce = ops.softplus(logits) - targets * logits  # BCE with logits: softplus(z) - t z
    if gamma:
        bce = ops.exp(-gamma * targets * logits - gamma * ops.softplus(-logits)) * bce
    return ops.sum(bce, axis=-1)


@keras.saving.register_keras_serializable(package="keras_lt")
class Focal(keras.losses.Loss):
    """Softmax focal loss `(1 - p_y) ** gamma * (-log p_y)`, optionally class-weighted.

    The modulating factor is not detached from the graph (Lin et al.; the LDAM-DRW code). With
    `class_weight` set (e.g. by `DeferredReweighting`), `p_y` is the model's true probability and the
    batch value is the weighted mean `sum w_y l / sum w_y` of `class_weighted`, so `gamma = 0` gives
    exactly torch's weighted cross-entropy. (The LDAM-DRW repository instead takes `p` from the
    already weighted CE and averages plainly; that reading is not reproduced.)

    Args:
        class_counts: training images per class; the loss itself does not use them, deferred
            re-weighting (`keras_lt.callbacks.DeferredReweighting`) computes its weights from them.
        gamma: focusing parameter (1 or 2 in the long-tail literature).
        class_weight: `None` or C per-class weights; plain state, settable between epochs.
        name: name of the loss.
        **kwargs: forwarded to `keras.losses.Loss`.

    Example:
    >>> loss = Focal(gamma=2.0)
    >>> loss(np.array([0, 2]), np.zeros((2, 3), "float32"))
    """

    def __init__(self, class_counts=None, gamma=1.0, class_weight=None, name="focal", **kwargs):
        super().__init__(name=name, **kwargs)
        if gamma < 0:
            raise ValueError(f"Focal needs gamma >= 0, got {gamma}.")
        self.class_counts = None if class_counts is None else [int(n) for n in class_counts]
        self.gamma = float(gamma)
        self.class_weight = class_weight

    def call(self, y_true, y_pred):
        return class_weighted(focal_losses(y_true, y_pred, self.gamma), y_true, self.class_weight)

    def get_config(self):
        return {
            **super().get_config(),
            "class_counts": self.class_counts,
            "gamma": self.gamma,
            "class_weight": class_weight_config(self.class_weight),
        }
