"""Balanced Softmax (Ren et al., 2020)."""

import keras

from keras_lt.errors import KerasLTError
from keras_lt.losses.logit_adjusted import LogitAdjusted


@keras.saving.register_keras_serializable(package="keras_lt")
class BalancedSoftmax(LogitAdjusted):
    """Balanced Softmax: cross-entropy on `logits + log(n / sum(n))`.

    The same training loss as logit adjustment with `tau = 1` (Menon et al.); kept under its own
    name, as the literature reports it. Predict with the raw logits.

    Args:
        class_counts: training images per class, indexed by class id (any order of classes).
        tau: 1 only (what Balanced Softmax is); another tau raises a `KerasLTError` pointing to
            `LogitAdjusted` ("logit_adjusted").
        name: name of the loss.
        **kwargs: forwarded to `keras.losses.Loss`.

    Example:
    >>> loss = BalancedSoftmax([500, 50, 5])
    >>> loss(np.array([0, 2]), np.zeros((2, 3), "float32"))
    """

    def __init__(self, class_counts, tau=1.0, name="balanced_softmax", **kwargs):
        if tau != 1:
            raise KerasLTError(
                f"balanced_softmax is logit adjustment at tau 1, not {tau}; for tau {tau} use the logit_adjusted loss."
            )
        super().__init__(class_counts, tau=1.0, name=name, **kwargs)

    def get_config(self):
        config = super().get_config()
        del config["tau"]
        return config
