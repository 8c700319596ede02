"""Test helper: a backup that stops the fit right after writing a given epoch, as a kill would."""

import keras


def interrupting_backup(epoch, directory_suffix=""):
    """A `BackupAndRestore` class that raises `KeyboardInterrupt` once the backup of `epoch` is written.

    Only backups whose directory ends with `directory_suffix` stop (e.g. stage 2's
    "finetune_backup"). Pass an instance to `fit`, or monkeypatch `keras.callbacks.BackupAndRestore`
    with the class where the library builds its own.
    """

    class InterruptingBackup(keras.callbacks.BackupAndRestore):
        def on_epoch_end(self, current, logs=None):
            super().on_epoch_end(current, logs)
            if current == epoch and self.backup_dir.endswith(directory_suffix):
                raise KeyboardInterrupt

    return InterruptingBackup
