"""Adds the epoch's learning rate and wall time to the epoch logs (and so to the CSV log)."""

import time

import keras


class EpochLog(keras.callbacks.Callback):
    """Writes `lr` (from the schedule) and `seconds` into each epoch's logs.

    Place it before `keras.callbacks.CSVLogger` so both columns reach the file.

    Args:
        schedule: a schedule with `epoch_lr(epoch)` (e.g. `keras_lt.trainers.WarmupMultiStep`).

    Example:
    >>> callbacks = [EpochLog(schedule), keras.callbacks.CSVLogger("train_log.csv")]
    """

    def __init__(self, schedule):
        super().__init__()
        self.schedule = schedule

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["lr"] = self.schedule.epoch_lr(epoch)
            logs["seconds"] = round(time.perf_counter() - self.start, 2)
