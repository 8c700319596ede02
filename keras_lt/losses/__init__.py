"""Long-tail losses, each a `keras.losses.Loss` written with `keras.ops`.

`get(name, class_counts, **kwargs)` builds a loss by its short name, as the CLI's `--loss` does.
"""

import keras

from keras_lt.errors import KerasLTError
from keras_lt.losses.balanced_softmax import BalancedSoftmax
from keras_lt.losses.class_balanced import ClassBalanced
from keras_lt.losses.class_balanced import effective_number_weights
from keras_lt.losses.focal import Focal
from keras_lt.losses.isda import ISDACovariance
from keras_lt.losses.isda import isda_logits
from keras_lt.losses.isda import isda_loss
from keras_lt.losses.kps import KPSLoss
from keras_lt.losses.label_aware_smoothing import LabelAwareSmoothing
from keras_lt.losses.ldam import LDAM
from keras_lt.losses.logit_adjusted import LogitAdjusted
from keras_lt.losses.logit_adjusted import posthoc_logit_adjustment


def _cross_entropy(class_counts, **kwargs):
    del class_counts  # plain ERM ignores the class profile
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True, **kwargs)


LOSSES = {
    "ce": _cross_entropy,
    "balanced_softmax": BalancedSoftmax,
    "logit_adjusted": LogitAdjusted,
    "ldam": LDAM,
    "focal": Focal,
    "class_balanced": ClassBalanced,
    "label_aware_smoothing": LabelAwareSmoothing,
    "kps": KPSLoss,
}
ALIASES = {
    "bs": "balanced_softmax",
    "cross_entropy": "ce",
    "la": "logit_adjusted",
    "cb": "class_balanced",
    "las": "label_aware_smoothing",
}
COSINE_LOSSES = ("kps", "ldam")  # margins on the cosines of a cosine classifier (NormedLinear in the official codes)
DRW_LOSSES = ("focal", "kps", "ldam")  # read the `class_weight` that `keras_lt.callbacks.DeferredReweighting` sets
GA_LOSSES = ("kps",)  # read the `gradient_adjustment` that `keras_lt.callbacks.GradientAdjustment` sets


def canonical_name(name):
    """The `LOSSES` key of a loss name or alias (an unknown name as it is).

    Example:
    >>> canonical_name("bs")
    'balanced_softmax'
    """
    return ALIASES.get(name, name)


def get(name, class_counts, **kwargs):
    """Builds the loss called `name` for a training set with `class_counts` images per class.

    Args:
        name: a key of `LOSSES` or `ALIASES` (e.g. "ce", "bs", "kps").
        class_counts: training images per class, indexed by class id.
        **kwargs: the loss's own hyperparameters.

    Returns:
        A `keras.losses.Loss`.

    Example:
    >>> loss = get("bs", [500, 50, 5])
    """
    key = canonical_name(name)
    if key not in LOSSES:
        names = ", ".join(sorted(set(LOSSES) | set(ALIASES)))
        raise KerasLTError(f"unknown loss '{name}'; choose one of: {names}.")
    return LOSSES[key](class_counts, **kwargs)


__all__ = [
    "BalancedSoftmax",
    "ClassBalanced",
    "Focal",
    "ISDACovariance",
    "KPSLoss",
    "LDAM",
    "LabelAwareSmoothing",
    "LogitAdjusted",
    "effective_number_weights",
    "posthoc_logit_adjustment",
    "isda_logits",
    "isda_loss",
    "get",
    "canonical_name",
    "COSINE_LOSSES",
    "DRW_LOSSES",
    "GA_LOSSES",
    "LOSSES",
]
