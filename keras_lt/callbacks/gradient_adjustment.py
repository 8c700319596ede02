"""KPS gradient adjustment (GA) as an epoch switch on `KPSLoss.gradient_adjustment`."""

from keras_lt.callbacks.epoch_switch import EpochSwitch


class GradientAdjustment(EpochSwitch):
    """Sets `loss.gradient_adjustment = epoch >= start_epoch` at every epoch begin.

    From `start_epoch` a `KPSLoss` scales each sample by `clamp(s * r'_y, s, max_scale)` (larger
    for tail classes) instead of `s`. The state is recomputed from the epoch number at every epoch
    begin, so a run resumed by `keras_lt.callbacks.Backup` (or started with
    `fit(initial_epoch=...)` past the switch) gets it back with no saved state. Logs `ga`
    (0.0 / 1.0) at every epoch end; put this callback before a `CSVLogger` so the column is there.

    Args:
        loss: a `keras_lt.losses.KPSLoss` (anything with a `gradient_adjustment` attribute).
        start_epoch: first GA epoch, 0-based (120 of 200 in the CIFAR recipe, 18 in short30).

    Example:
    >>> loss = KPSLoss(class_counts)
    >>> model.compile(optimizer="sgd", loss=loss)
    >>> model.fit(x, y, epochs=200, callbacks=[GradientAdjustment(loss, start_epoch=120)])
    """

    def __init__(self, loss, start_epoch=120):
        super().__init__(start_epoch, log_key="ga")
        self.loss = loss

    def apply(self, active):
        self.loss.gradient_adjustment = active
