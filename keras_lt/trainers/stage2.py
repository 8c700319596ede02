"""What every stage-2 pipeline shares: the callbacks of its `fit`, with an epoch log and a per-epoch backup."""

import os

from keras_lt.callbacks import Backup
from keras_lt.callbacks import EpochLog
from keras_lt.callbacks import EpochSeeder

BACKUP_DIR = "finetune_backup"


def stage2_callbacks(batches, callbacks=(), output_dir=None):
    """The callbacks of a stage-2 `fit`: the batches' seeder, an `EpochLog`, the caller's, and a backup.

    `EpochLog` (learning rate at the epoch's first step, and wall time) comes before the caller's
    callbacks, so a `CSVLogger` among them writes both columns.

    The backup (`keras_lt.callbacks.Backup`: weights, optimizer and epoch after every epoch,
    crash-safe) is the caller's when `callbacks` holds one (`keras_lt.training` passes one that it
    removes once the run's checkpoint is written); else, with `output_dir`, one in
    `output_dir/finetune_backup`, removed when the fit completes. A pipeline called again with the
    same backup continues from it, exactly when its draws are keyed by epoch and step (they are in
    keras-lt). Files that the callbacks keep beside the training (their `backup_files`, e.g. AFR's
    re-balanced set) go into every backup too.

    Args:
        batches: the `keras_lt.data.DeviceBatches` being fitted.
        callbacks: the caller's callbacks (e.g. a `CSVLogger`, a `Backup`), after the seeder and the log.
        output_dir: the run directory, or None for no backup (unless the caller gives one).

    Returns:
        A list of Keras callbacks.

    Example:
    >>> trainer.fit(batches, epochs=10, shuffle=False, callbacks=stage2_callbacks(batches, [log], "runs/crt"))
    """
    callbacks = list(callbacks)
    if output_dir is not None and not any(isinstance(c, Backup) for c in callbacks):
        callbacks.append(Backup(os.path.join(output_dir, BACKUP_DIR)))
    files = [path for c in callbacks for path in getattr(c, "backup_files", ())]
    for backup in (c for c in callbacks if isinstance(c, Backup)):
        backup.files = sorted({*backup.files, *files})
    return [EpochSeeder(batches), EpochLog(), *callbacks]
