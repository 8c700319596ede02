"""Stops a fit at the first training loss that is not finite, before the epoch's backup keeps its weights."""

import math

import keras

from keras_lt.errors import KerasLTError


class TrainingDiverged(KerasLTError):
    """A fit whose training loss became NaN or infinite: its learning rate is too high.

    Args:
        message: the one line, with what to do.
        reason: what diverged where and the remedy, without what the caller adds about the run
            directory (the message itself by default).
    """

    def __init__(self, message, reason=None):
        super().__init__(message)
        self.reason = reason or message


class StopOnDivergence(keras.callbacks.Callback):
    """Raises one `TrainingDiverged` line at the first NaN or infinite training loss, or weights at an epoch's end.

    Keras' `TerminateOnNaN` lets the epoch end, and with it a `keras_lt.callbacks.Backup` save the
    diverged weights, which a resumed run then continues from; this stops the fit before that, so
    the backup keeps the last good epoch: put it before the backup. The trained weights are checked too as
    the epoch ends, since no loss yet shows what the epoch's last step did to them. It is safe for
    Keras' asynchronous batch callbacks: a loss found there is raised, at the latest, as the epoch
    ends, before any epoch-end callback runs.

    Args:
        stage: the fit, as the message names it (e.g. "training", "the fine-tune").
        learning_rate: where its learning rate is set, as the message names it.

    Example:
    >>> trainer.fit(batches, epochs=200, callbacks=[StopOnDivergence(), Backup("runs/ce/backup")])
    """

    async_safe = True  # its batch end reads only its logs: Keras may call it on a worker thread

    def __init__(self, stage="training", learning_rate="--lr, or the recipe's lr"):
        super().__init__()
        self.stage = stage
        self.learning_rate = learning_rate
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            raise self._diverged(f"loss {loss}")

    def on_epoch_end(self, epoch, logs=None):
        # the trained weights (a NaN statistic follows from them or from a loss the batches show), not every
        # variable: an estimator's (ISDA's class covariances: 1.7 GB at 100 x 2048 x 2048) would be copied
        finite = [keras.ops.all(keras.ops.isfinite(w)) for w in self.model.trainable_weights]
        if finite and not bool(keras.ops.convert_to_numpy(keras.ops.all(keras.ops.stack(finite)))):
            raise self._diverged("weights not finite")

    def _diverged(self, what):
        return TrainingDiverged(
            f"{self.stage} diverged ({what}) in epoch {self.epoch + 1}: lower the learning rate ({self.learning_rate})"
        )
