"""Adds the epoch's learning rate and wall time to the epoch logs (and so to the CSV log)."""

import time

import keras


class EpochLog(keras.callbacks.Callback):
    """Writes `lr` and `seconds` (the epoch's wall time, its callbacks included) into each epoch's logs.

    Place it first among the callbacks (its clock starts before theirs: a stage-2 regeneration
    counts) and before `keras.callbacks.CSVLogger`, so both columns reach the file.

    Args:
        schedule: a schedule with `epoch_lr(epoch)` (e.g. `keras_lt.trainers.WarmupMultiStep`); None
            logs the optimizer's learning rate at the epoch's first step (any schedule, e.g. the
            per-step `CosineToZero` of the stage-2 pipelines).

    Example:
    >>> callbacks = [EpochLog(schedule), keras.callbacks.CSVLogger("train_log.csv")]
    """

    def __init__(self, schedule=None):
        super().__init__()
        self.schedule = schedule

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()
        if self.schedule is None:
            self.lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["lr"] = self.schedule.epoch_lr(epoch) if self.schedule is not None else self.lr
            logs["seconds"] = round(time.perf_counter() - self.start, 2)
