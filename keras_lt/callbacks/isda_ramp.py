"""ISDA's augmentation-strength ramp `lam = lam0 * t / T` over the iterations, recomputed from the step."""

import keras


class ISDARamp(keras.callbacks.Callback):
    """Sets `isda.isda_lambda = isda.lam0 * t / T` before every training step and logs it.

    `t` is the 0-based iteration `epoch * steps_per_epoch + step` and `T` the run's total
    `epochs * steps_per_epoch`: LCReg's "lambda = (t / T) x lambda_0 ... where T indicates the total
    iteration" (ISDA's own code ramps per epoch, `lambda_0 * epoch / epochs`). So `lam` rises
    linearly from 0 and never reaches `lam0`. Recomputed from the epoch and step numbers alone, it
    needs no saved state: a run resumed by a backup gets it back. Logged as `isda_lambda` at every
    epoch end, the value of the epoch's last step (put this callback before a `CSVLogger`).

    Args:
        isda: an ingredient with `lam0` and an `isda_lambda` attribute (`keras_lt.trainers.LatentISDA`).
        epochs: the run's epochs; None for the `fit` run's number of epochs.
        steps_per_epoch: steps in one epoch; None for the `fit` run's.

    Example:
    >>> trainer.fit(batches, epochs=200, callbacks=[StepKey(trainer), ISDARamp(isda)])
    """

    def __init__(self, isda, epochs=None, steps_per_epoch=None):
        super().__init__()
        self.isda = isda
        self.epochs = epochs
        self.steps_per_epoch = steps_per_epoch
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        params = self.params or {}
        steps = self.steps_per_epoch or params.get("steps")
        epochs = self.epochs or params.get("epochs")
        if not steps or not epochs:  # a ramp over an unknown length would overshoot lam0
            raise ValueError("ISDARamp needs the run's length: fit on batches with a length (`DeviceBatches`) "
                             "or pass epochs= and steps_per_epoch=.")
        self.isda.isda_lambda = self.isda.lam0 * (self.epoch * steps + batch) / (epochs * steps)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["isda_lambda"] = float(self.isda.isda_lambda)
