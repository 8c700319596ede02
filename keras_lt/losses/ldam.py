"""LDAM loss (Cao et al., 2019), with the DRW re-weighting as settable state."""

import keras
from keras import ops

from keras_lt.losses.common import sparse_softmax_cross_entropy
from keras_lt.losses.common import class_weight_config
from keras_lt.losses.common import class_weighted
from keras_lt.losses.common import sparse_labels
from keras_lt.losses.common import validated_counts


def ldam_margins(class_counts, max_margin=0.5):
    """Per-class margins `Delta_c = C_m / n_c ** 0.25`, with `C_m` set so the largest is `max_margin`.

    Args:
        class_counts: training images per class, indexed by class id.
        max_margin: margin of the rarest class.

    Returns:
        A float32 NumPy vector of C margins.

    Example:
    >>> ldam_margins([10000, 1], max_margin=0.5)  # [0.05, 0.5]
    """
    inverse_fourth_root = validated_counts(class_counts) ** -0.25
    return (max_margin * inverse_fourth_root / inverse_fourth_root.max()).astype("float32")


@keras.saving.register_keras_serializable(package="keras_lt")
class LDAM(keras.losses.Loss):
    """Label-distribution-aware margin loss: cross-entropy on `s * (z - Delta_y * onehot(y))`.

    `y_pred` are the cosine logits of a normed-linear classifier, as in the official LDAM-DRW code:
    bare cosines in [-1, 1]. A published cosine checkpoint outputs `s * cos`
    (`keras_lt.models.set_output_scale`): take its scale off (`set_output_scale(model, None)`)
    before training it with this loss, or the scale applies twice. Inference uses the same model
    outputs unchanged (argmax of the cosines; no margin, and the scale does not change the argmax).

    DRW is the `class_weight` attribute: `None` (plain mean) or C per-class weights, read at every
    call; `keras_lt.callbacks.DeferredReweighting` sets it from its start epoch. With weights the
    batch value is torch's `F.cross_entropy(weight=w)`, i.e. `sum w_y l / sum w_y`.

    Args:
        class_counts: training images per class, indexed by class id (any order of classes).
        max_margin: margin of the rarest class (0.5).
        scale: logit scale `s` (30).
        class_weight: initial DRW state, `None` or C per-class weights.
        name: name of the loss.
        **kwargs: forwarded to `keras.losses.Loss`.

    Example:
    >>> loss = LDAM([500, 50, 5])
    >>> loss.class_weight = effective_number_weights(loss.class_counts)  # what DRW does
    >>> loss(np.array([0, 2]), np.zeros((2, 3), "float32"))
    """

    def __init__(self, class_counts, max_margin=0.5, scale=30.0, class_weight=None, name="ldam", **kwargs):
        super().__init__(name=name, **kwargs)
        self.class_counts = [int(n) for n in class_counts]
        self.max_margin = float(max_margin)
        self.scale = float(scale)
        self.class_weight = class_weight
        self.margins = ldam_margins(self.class_counts, self.max_margin)

    def call(self, y_true, y_pred):
        onehot = ops.one_hot(sparse_labels(y_true), len(self.class_counts), dtype=y_pred.dtype)
        logits = self.scale * (y_pred - onehot * ops.convert_to_tensor(self.margins))
        return class_weighted(sparse_softmax_cross_entropy(y_true, logits), y_true, self.class_weight)

    def get_config(self):
        return {
            **super().get_config(),
            "class_counts": self.class_counts,
            "max_margin": self.max_margin,
            "scale": self.scale,
            "class_weight": class_weight_config(self.class_weight),
        }
