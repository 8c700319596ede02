"""AFR's regeneration: a fresh intra-class split and adversarial re-balanced set every few epochs."""

import keras


class AFRRegeneration(keras.callbacks.Callback):
    """Calls `trainer.regenerate(epoch)` at the first epoch of every `every`-epoch period.

    The period is recomputed from the epoch number (a fit started at epoch 7 with `every=5`
    regenerates for period 5..9 at once, with the draws keyed by 5), so a resumed run rebuilds the
    set an uninterrupted run trains on. Before every training step it sets
    `trainer.step_key = (epoch, step)`, the key of the step's CutMix draws. Logs, at every epoch end,
    `afr_minority` (the intra-class minority share of the training set) and `afr_attacked` (the
    adversarial images in the current re-balanced set); put it before a `CSVLogger`.

    Args:
        trainer: a `keras_lt.trainers.AFRTrainer`.
        every: epochs between regenerations (AFR: 10; 2 in short30).

    Example:
    >>> trainer.fit(rebalanced, epochs=50, callbacks=[EpochSeeder(rebalanced), AFRRegeneration(trainer, 10)])
    """

    def __init__(self, trainer, every):
        super().__init__()
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}.")
        self.trainer = trainer
        self.every = int(every)
        self.period_start = None
        self.epoch = None
        self.records = []  # one split summary per regeneration

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        start = epoch - epoch % self.every
        if start != self.period_start:
            self.records.append(self.trainer.regenerate(start))
            self.period_start = start

    def on_train_batch_begin(self, batch, logs=None):
        self.trainer.step_key = (self.epoch, batch)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self.records:
            logs["afr_minority"] = self.records[-1]["minority_share"]
            logs["afr_attacked"] = float(self.records[-1]["attacked"])
