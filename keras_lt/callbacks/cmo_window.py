"""CMO's epoch window: CutMix of minority foregrounds only for `first <= epoch <= last`."""

from keras_lt.callbacks.epoch_switch import EpochSwitch


class CMOWindow(EpochSwitch):
    """Sets `cmo.active` from the epoch number.

    At every epoch begin, `cmo.active = first_epoch <= epoch <= last_epoch` (0-based),
    recomputed from the epoch, so a run resumed by `keras_lt.callbacks.Backup` (or `fit(initial_epoch=...)`) mixes exactly what
    an uninterrupted run mixes. Logs `cmo` (0.0 / 1.0) at every epoch end; put this callback before a
    `CSVLogger` so the column is there.

    Args:
        cmo: a `keras_lt.trainers.CMO` mixer.
        first_epoch: first epoch with CMO (the reference's `3 < epoch`: 4 of 200; 1 in short30).
        last_epoch: last epoch with CMO (the reference's `epoch < E - 3`: 196 of 200; 27 in short30).

    Example:
    >>> cmo = CMO(window=(0, 0))  # a window of its own: the callback below sets it
    >>> trainer = ERMTrainer(network, mixer=cmo)
    >>> trainer.fit(batches, epochs=200, shuffle=False,
    ...             callbacks=[EpochSeeder(batches), StepKey(trainer), CMOWindow(cmo, 4, 196)])
    """

    def __init__(self, cmo, first_epoch, last_epoch):
        super().__init__(first_epoch, log_key="cmo")
        if last_epoch < first_epoch:
            raise ValueError(f"last_epoch must be >= first_epoch, got the window ({first_epoch}, {last_epoch}).")
        self.cmo = cmo
        self.last_epoch = int(last_epoch)

    def apply(self, active):
        self.cmo.active = active

    def on_epoch_begin(self, epoch, logs=None):
        self.active = self.start_epoch <= epoch <= self.last_epoch
        self.apply(self.active)
