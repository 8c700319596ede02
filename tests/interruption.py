"""Test helper: a backup that stops the fit right after writing a given epoch, as a kill would."""

import keras


def interrupting_backup(epoch, directory_suffix="", before_saving=False, base=keras.callbacks.BackupAndRestore):
    """A backup class that raises `KeyboardInterrupt` once the backup of `epoch` is written.

    Only backups whose directory ends with `directory_suffix` stop (e.g. stage 2's
    "finetune_backup"). With `before_saving`, it stops just before writing that backup instead (the
    epoch's log row is written, its backup is not). Pass an instance to `fit`, or monkeypatch the
    class where the library builds its own (`keras_lt.callbacks.Backup`: pass it as `base`).
    """

    class InterruptingBackup(base):
        def on_epoch_end(self, current, logs=None):
            directory = getattr(self, "backup_dir", None) or self.directory
            stop = current == epoch and directory.endswith(directory_suffix)
            if stop and before_saving:
                raise KeyboardInterrupt
            super().on_epoch_end(current, logs)
            if stop:
                raise KeyboardInterrupt

    return InterruptingBackup
