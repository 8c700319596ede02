"""What every stage-2 pipeline shares: its input checks, and the callbacks of its `fit` with an epoch log and a per-epoch backup."""

import os

import numpy as np

from keras_lt import distributed
from keras_lt.callbacks import Backup
from keras_lt.callbacks import EpochLog
from keras_lt.callbacks import EpochSeeder
from keras_lt.distributed.restore_only_backup import RestoreOnlyBackup
from keras_lt.errors import KerasLTError

BACKUP_DIR = "finetune_backup"


def check_stage2_data(stage, images, labels, epochs, num_classes):
    """Raises one `KerasLTError` line unless a stage 2 that trains has data, epochs and labels that fit.

    Args:
        stage: the pipeline's name in the message, e.g. "MiSLAS stage 2".
        images: the training images (or None).
        labels: their integer labels (or None).
        epochs: the epochs to train.
        num_classes: the classes of the network it trains.

    Example:
    >>> check_stage2_data("cRT", images, labels, 10, model.output_shape[-1])
    """
    if images is None or labels is None:
        raise KerasLTError(f"{stage} trains on the training set: pass the training images and labels.")
    if epochs < 1:
        raise KerasLTError(f"{stage} needs at least 1 epoch, got {epochs}.")
    if int(np.max(labels)) >= num_classes:
        raise KerasLTError(
            f"labels go up to {int(np.max(labels))} but the model has {num_classes} classes; "
            "re-train it on the dataset it was trained on."
        )


def stage2_callbacks(batches, callbacks=(), output_dir=None):
    """The callbacks of a stage-2 `fit`: the batches' seeder, an `EpochLog`, the caller's, and a backup.

    `EpochLog` (learning rate at the epoch's first step, and wall time) comes before the caller's
    callbacks, so a `CSVLogger` among them writes both columns.

    The backup (`keras_lt.callbacks.Backup`: weights, optimizer and epoch after every epoch,
    crash-safe) is the caller's when `callbacks` holds one (`keras_lt.training` passes one that it
    removes once the run's checkpoint is written); else, with `output_dir`, one in
    `output_dir/finetune_backup`, removed when the fit completes (in a multi-process run, every rank
    gets the same `output_dir`: rank 0's backup writes, the others' only restore,
    `keras_lt.distributed.restore_only_backup.RestoreOnlyBackup`). A pipeline called again with the
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
        backup = Backup if distributed.is_main() else RestoreOnlyBackup
        callbacks.append(backup(os.path.join(output_dir, BACKUP_DIR)))
    files = [path for c in callbacks for path in getattr(c, "backup_files", ())]
    for backup in (c for c in callbacks if isinstance(c, Backup)):
        backup.files = sorted({*backup.files, *files})
    return [EpochSeeder(batches), EpochLog(), *callbacks]
