"""ISDA's augmentation-strength ramp `lam = lam0 * t / T`, recomputed from the epoch number."""

import keras


class ISDARamp(keras.callbacks.Callback):
    """Sets `trainer.isda_lambda = trainer.lam0 * epoch / epochs` at every epoch begin and logs it.

    `epoch` is 0-based and `epochs` is the `fit` run's total (ISDA's `lambda_0 * epoch / epochs`),
    so `lam` rises linearly from 0. Recomputed from the epoch number alone, it needs no saved state:
    a run resumed by `BackupAndRestore` gets it back. Logged as `isda_lambda` at every epoch end
    (put this callback before a `CSVLogger`).

    Args:
        trainer: a trainer with `lam0` and an `isda_lambda` attribute (`keras_lt.trainers.LCRegTrainer`).
        epochs: the total `T`; None for the `fit` run's number of epochs.

    Example:
    >>> trainer.fit(batches, epochs=200, callbacks=[ISDARamp(trainer)])
    """

    def __init__(self, trainer, epochs=None):
        super().__init__()
        self.trainer = trainer
        self.epochs = epochs

    def on_epoch_begin(self, epoch, logs=None):
        total = self.epochs or (self.params or {}).get("epochs") or 1
        self.trainer.isda_lambda = self.trainer.lam0 * epoch / total

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["isda_lambda"] = float(self.trainer.isda_lambda)
