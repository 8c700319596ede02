"""Base of the epoch-driven switches: state recomputed from the epoch number, logged per epoch."""

import keras


class EpochSwitch(keras.callbacks.Callback):
    """Turns a piece of loss/trainer state on from `start_epoch` (0-based) and logs it per epoch.

    At every epoch begin the state is recomputed from the epoch number alone (`epoch >= start_epoch`)
    and applied by `apply(active)`; at epoch end `logs[log_key]` is set to 1.0 or 0.0 so the state
    shows in the progress bar, `History` and a `CSVLogger` placed after this callback. Resume needs no
    saved state: `keras_lt.callbacks.Backup` restarts `fit` at the restored epoch, whose
    `on_epoch_begin` sets the state again (as does `fit(initial_epoch=...)`).

    Args:
        start_epoch: first epoch (0-based) with the switch on.
        log_key: key written into the epoch logs.

    Example:
    >>> class Announce(EpochSwitch):
    ...     def apply(self, active):
    ...         print(active)
    """

    def __init__(self, start_epoch, log_key):
        super().__init__()
        if start_epoch < 0:
            raise ValueError(f"start_epoch must be >= 0, got {start_epoch}.")
        self.start_epoch = int(start_epoch)
        self.log_key = log_key
        self.active = False

    def apply(self, active):
        """Sets the controlled state; `active` is `epoch >= start_epoch`."""
        raise NotImplementedError

    def on_epoch_begin(self, epoch, logs=None):
        self.active = epoch >= self.start_epoch
        self.apply(self.active)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs[self.log_key] = float(self.active)
