"""What every stage-2 pipeline shares: the callbacks of its `fit`, with an epoch log and a per-epoch backup."""

import os

import keras

from keras_lt.callbacks import EpochLog
from keras_lt.callbacks import EpochSeeder

BACKUP_DIR = "finetune_backup"


def stage2_callbacks(batches, callbacks=(), output_dir=None):
    """The callbacks of a stage-2 `fit`: the batches' seeder, an `EpochLog`, the caller's, and a backup.

    `EpochLog` (learning rate at the epoch's first step, and wall time) comes before the caller's
    callbacks, so a `CSVLogger` among them writes both columns.

    With `output_dir`, a `keras.callbacks.BackupAndRestore` keeps the fine-tune's weights,
    optimizer and epoch in `output_dir/finetune_backup` after every epoch (double-checkpointed: a
    stop while it is written falls back to the epoch before). A pipeline called again with the same
    `output_dir` continues from it, exactly when its draws are keyed by epoch and step (they are in
    keras-lt); the backup is deleted when the fit completes.

    Args:
        batches: the `keras_lt.data.DeviceBatches` being fitted.
        callbacks: the caller's callbacks (e.g. a `CSVLogger`), after the seeder and the log.
        output_dir: the run directory, or None for no backup.

    Returns:
        A list of Keras callbacks.

    Example:
    >>> trainer.fit(batches, epochs=10, shuffle=False, callbacks=stage2_callbacks(batches, [log], "runs/crt"))
    """
    backup = []
    if output_dir is not None:
        directory = os.path.join(output_dir, BACKUP_DIR)
        backup = [keras.callbacks.BackupAndRestore(directory, double_checkpoint=True)]
    return [EpochSeeder(batches), EpochLog(), *callbacks, *backup]
