"""Feeds the epoch number to the device pipeline, so every epoch's order is reproducible."""

import keras


class EpochSeeder(keras.callbacks.Callback):
    """Calls `batches.set_epoch(epoch)` at each epoch begin (as `DistributedSampler.set_epoch`).

    With it, a run resumed at epoch `e` draws exactly the batches an uninterrupted run draws there.

    Args:
        batches: a `keras_lt.data.DeviceBatches` (anything with `set_epoch`).

    Example:
    >>> trainer.fit(batches, epochs=30, callbacks=[EpochSeeder(batches)])
    """

    def __init__(self, batches):
        super().__init__()
        self.batches = batches

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.set_epoch(epoch)
