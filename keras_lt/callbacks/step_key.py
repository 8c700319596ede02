"""Keys every training step's random draws by `(epoch, step)`, so a resumed run draws the same."""

import keras


class StepKey(keras.callbacks.Callback):
    """Sets `trainer.step_key = (epoch, step)` before every training step.

    Trainers that draw randomness inside their step (mixup's `lam` and permutation) seed it from
    `(seed, epoch, step)`; with this callback a run resumed by `keras_lt.callbacks.Backup`
    (or `fit(initial_epoch=...)`) draws exactly what an uninterrupted run draws. Trainers that need
    it return it from `epoch_callbacks()`, which `keras_lt.training` adds to `fit`.

    Args:
        trainer: the trainer whose `step_key` to set.

    Example:
    >>> trainer.fit(batches, epochs=200, callbacks=[EpochSeeder(batches), StepKey(trainer)], shuffle=False)
    """

    def __init__(self, trainer):
        super().__init__()
        self.trainer = trainer
        self.epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        self.trainer.step_key = (self.epoch, batch)
