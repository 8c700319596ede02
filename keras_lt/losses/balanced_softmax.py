"""Balanced Softmax (Ren et al., 2020)."""

import keras

from keras_lt.losses.logit_adjusted import LogitAdjusted


@keras.saving.register_keras_serializable(package="keras_lt")
class BalancedSoftmax(LogitAdjusted):
    """Balanced Softmax: cross-entropy on `logits + log(n / sum(n))`.

    The same training loss as logit adjustment with `tau = 1` (Menon et al.); kept under its own
    name, as the literature reports it. Predict with the raw logits.

    Args:
        class_counts: training images per class, indexed by class id (any order of classes).
        name: name of the loss.
        **kwargs: forwarded to `keras.losses.Loss`.

    Example:
    >>> loss = BalancedSoftmax([500, 50, 5])
    >>> loss(np.array([0, 2]), np.zeros((2, 3), "float32"))
    """

    def __init__(self, class_counts, name="balanced_softmax", **kwargs):
        kwargs.pop("tau", None)
        super().__init__(class_counts, tau=1.0, name=name, **kwargs)

    def get_config(self):
        config = super().get_config()
        del config["tau"]
        return config
