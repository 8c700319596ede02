"""Deferred re-weighting (DRW, Cao et al., 2019) as an epoch switch on a loss's `class_weight`."""

from keras_lt.callbacks.epoch_switch import EpochSwitch
from keras_lt.losses.class_balanced import effective_number_weights


class DeferredReweighting(EpochSwitch):
    """Sets `loss.class_weight` to effective-number weights from `start_epoch`, `None` before.

    Works with any loss that reads a `class_weight` attribute and has `class_counts` (`LDAM`,
    `KPSLoss`, `Focal`). The weights are `(1 - beta) / (1 - beta ** n_c)` normalised to sum C. The state
    is recomputed from the epoch number at every epoch begin, so a run resumed by
    `keras_lt.callbacks.Backup` (or started with `fit(initial_epoch=...)` past the switch)
    gets it back with no saved state. Logs `drw` (0.0 / 1.0) at every epoch end; put this callback
    before a `CSVLogger` so the column is there.

    Args:
        loss: the loss to switch, e.g. a `keras_lt.losses.LDAM`.
        start_epoch: first re-weighted epoch, 0-based (160 of 200 in the CIFAR recipe, 24 in short30).
        beta: effective-number hyperparameter.

    Example:
    >>> loss = LDAM(class_counts)
    >>> model.compile(optimizer="sgd", loss=loss)
    >>> model.fit(x, y, epochs=200, callbacks=[DeferredReweighting(loss, start_epoch=160)])
    """

    def __init__(self, loss, start_epoch=160, beta=0.9999):
        super().__init__(start_epoch, log_key="drw")
        self.loss = loss
        self.beta = float(beta)
        self.weights = effective_number_weights(loss.class_counts, self.beta)

    def apply(self, active):
        self.loss.class_weight = self.weights if active else None
