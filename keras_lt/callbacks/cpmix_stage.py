"""CP-Mix's stage switch: ERM before `start_epoch`, ERM + confusion-pairing mixup from it."""

import keras

from keras_lt.callbacks.epoch_switch import EpochSwitch


class CPMixStage(EpochSwitch):
    """Sets `cpmix.active = epoch >= start_epoch` at every epoch begin.

    The stage is recomputed from the epoch number at every epoch begin, so a run resumed by
    `keras_lt.callbacks.Backup` (or `fit(initial_epoch=...)`) gets it back with no saved
    state; the confusion counts themselves are a variable of the trainer. Logs `cpmix` (0.0 / 1.0)
    and `confusions` (the number of training confusions counted so far) at every epoch end; put this
    callback before a `CSVLogger` so the columns are there.

    Args:
        cpmix: a `keras_lt.trainers.ConfusionPairMixing`, built with its trainer.
        start_epoch: first stage-2 epoch, 0-based (METHODS.md: 2/3 of the epochs, 200 of 300 in the
            CIFAR recipe, 20 in short30).

    Example:
    >>> cpmix = ConfusionPairMixing()
    >>> trainer = ERMTrainer(network, regularizers=[cpmix])
    >>> trainer.fit(batches, epochs=300, shuffle=False,
    ...             callbacks=[EpochSeeder(batches), *trainer.epoch_callbacks(), CPMixStage(cpmix, 200)])
    """

    def __init__(self, cpmix, start_epoch):
        super().__init__(start_epoch, log_key="cpmix")
        self.cpmix = cpmix

    def apply(self, active):
        self.cpmix.active = active

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        if logs is not None:
            logs["confusions"] = float(keras.ops.sum(self.cpmix.confusion))
