"""Key Point Sensitive loss (Li, Cheung, Hu, TPAMI 2022; official code Keke921/KPSLoss)."""

import keras
import numpy as np
from keras import ops

from keras_lt.losses.common import sparse_softmax_cross_entropy
from keras_lt.losses.common import class_weight_config
from keras_lt.losses.common import class_weighted
from keras_lt.losses.common import sparse_labels
from keras_lt.losses.common import validated_counts


def kps_radii(class_counts, base=50.0):
    """Per-class KPS radii `r` and swapped radii `r'` (roles of head and tail exchanged).

    `r_c = 1 + ln(n_c / n_min) / ln(base)` is largest for the head class, 1 for the tail class;
    `r'_c = 1 + ln(n_max / n_c) / ln(base)` the reverse.

    Args:
        class_counts: training images per class, indexed by class id.
        base: logarithm base of the official code (50).

    Returns:
        `(radii, swapped_radii)`, two float32 NumPy vectors of C values >= 1.

    Example:
    >>> kps_radii([5000, 50])[0]  # [1 + ln(100) / ln(50), 1] = [2.18, 1.0]
    """
    counts = validated_counts(class_counts)
    radii = 1.0 + np.log(counts / counts.min()) / np.log(base)
    swapped_radii = 1.0 + np.log(counts.max() / counts) / np.log(base)
    return radii.astype("float32"), swapped_radii.astype("float32")


@keras.saving.register_keras_serializable(package="keras_lt")
class KPSLoss(keras.losses.Loss):
    """KPS loss: cross-entropy on `s_b * (r_j cos_j - m_j * onehot_j(y))`.

    `y_pred` is the cosine `cos_j` of a normed-linear (cosine) classifier. Per class: radius
    `r_c = 1 + ln(n_c / n_min) / ln 50` (head ~2.18 at IF100, tail 1) and margin
    `m_c = max_margin * r'_c / max(r')` with `r'_c = 1 + ln(n_max / n_c) / ln 50` (tail largest),
    the order-independent form of the official code's `flip`.

    Gradient adjustment (GA) is the `gradient_adjustment` attribute, read at every call: `False`
    uses `s_b = scale` for every sample; `True` uses `s_b = clamp(scale * r'_y, scale, max_scale)`
    per sample (larger for tail samples). `keras_lt.callbacks.GradientAdjustment` sets it from its
    start epoch. `class_weight` (`None` by default) allows the paper's KPS-DRW variant, with torch's
    weighted-mean convention.

    `y_pred` are bare cosines in [-1, 1]: a published cosine checkpoint outputs `s * cos`
    (`keras_lt.models.set_output_scale`); take its scale off (`set_output_scale(model, None)`)
    before training it with this loss. Inference: argmax of the raw cosines `y_pred`, as the
    official code evaluates (`model(input)` is the cosine). The radii, margins and scale are training-time only; the head-favouring radii thus
    do not bias the test-time decision.

    Args:
        class_counts: training images per class, indexed by class id (any order of classes).
        max_margin: margin of the rarest class (0.2).
        scale: logit scale `s` (15), and the lower GA clamp.
        max_scale: upper GA clamp (50).
        base: logarithm base of the radii (50).
        gradient_adjustment: initial GA state.
        class_weight: initial per-class weights, `None` or C values.
        name: name of the loss.
        **kwargs: forwarded to `keras.losses.Loss`.

    Example:
    >>> loss = KPSLoss(keras_lt.data.long_tailed_counts(10, 5000, 100))
    >>> loss.gradient_adjustment = True  # what GradientAdjustment does from epoch 120
    >>> loss(np.array([0, 9]), np.zeros((2, 10), "float32"))
    """

    def __init__(
        self,
        class_counts,
        max_margin=0.2,
        scale=15.0,
        max_scale=50.0,
        base=50.0,
        gradient_adjustment=False,
        class_weight=None,
        name="kps",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        self.class_counts = [int(n) for n in class_counts]
        self.max_margin = float(max_margin)
        self.scale = float(scale)
        self.max_scale = float(max_scale)
        self.base = float(base)
        self.gradient_adjustment = bool(gradient_adjustment)
        self.class_weight = class_weight
        self.radii, self.swapped_radii = kps_radii(self.class_counts, self.base)
        self.margins = self.max_margin * self.swapped_radii / self.swapped_radii.max()

    def sample_scales(self, y_true):
        """Per-sample scales `s_b`, shape `(B,)`, under the current `gradient_adjustment` state."""
        labels = sparse_labels(y_true)
        if not self.gradient_adjustment:
            return ops.full(ops.shape(labels), self.scale)
        scales = ops.take(ops.convert_to_tensor(self.swapped_radii), labels) * self.scale
        return ops.clip(scales, self.scale, self.max_scale)

    def call(self, y_true, y_pred):
        onehot = ops.one_hot(sparse_labels(y_true), len(self.class_counts), dtype=y_pred.dtype)
        logits = y_pred * ops.convert_to_tensor(self.radii) - onehot * ops.convert_to_tensor(self.margins)
        logits = ops.expand_dims(self.sample_scales(y_true), -1) * logits
        return class_weighted(sparse_softmax_cross_entropy(y_true, logits), y_true, self.class_weight)

    def get_config(self):
        return {
            **super().get_config(),
            "class_counts": self.class_counts,
            "max_margin": self.max_margin,
            "scale": self.scale,
            "max_scale": self.max_scale,
            "base": self.base,
            "gradient_adjustment": self.gradient_adjustment,
            "class_weight": class_weight_config(self.class_weight),
        }
