"""The backup callback of the ranks that do not write: they restore the state rank 0 saved, and nothing more."""

from keras_lt.callbacks.backup import Backup


class RestoreOnlyBackup(Backup):
    """A `keras_lt.callbacks.Backup` that restores the trainer at `on_train_begin` and never writes or removes.

    Ranks other than 0 of a multi-process run get this one: they resume from the same state as
    rank 0, which alone writes the states (its `Backup`) and puts the state's `files` back (AFR's
    re-balanced set, which rank 0 then shares). Every rank restores before its first step, and
    rank 0 writes its first new state only after every rank has trained that epoch, so the reads
    never meet a write.

    Example:
    >>> backup = Backup(path, keep=True) if distributed.is_main() else RestoreOnlyBackup(path)
    """

    def on_epoch_end(self, epoch, logs=None):
        pass

    def _put_back(self, snapshot):
        pass

    def on_train_end(self, logs=None):
        pass

    def remove(self):
        pass
