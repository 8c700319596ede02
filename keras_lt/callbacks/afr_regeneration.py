"""AFR's regeneration: a fresh intra-class split and adversarial re-balanced set every few epochs."""

import json
import os

import keras
import numpy as np

from keras_lt import distributed
from keras_lt.data.disk_batches import DiskBatches
from keras_lt.files import atomic_write

SPLIT_FILE = "afr_split.json"
STATE_FILE = "afr_rebalanced.npz"
REBALANCED_IMAGES_FILE = "afr_rebalanced_images.npy"  # the set of streamed data, memory-mapped


class AFRRegeneration(keras.callbacks.Callback):
    """Calls `trainer.regenerate(epoch)` at the first epoch of every `every`-epoch period.

    The period is recomputed from the epoch number (a fit started at epoch 7 with `every=5` is in
    period 5..9), so a resumed run trains on the set an uninterrupted run trains on. Logs, at every
    epoch end, `afr_minority` (the intra-class minority share of the training set) and
    `afr_attacked` (the adversarial images in the current re-balanced set); put it before a
    `CSVLogger`.

    With a `directory`, every regeneration writes the splits so far to `afr_split.json` (with
    `settings`) and the re-balanced set to `afr_rebalanced.npz` there (`backup_files`: a
    `keras_lt.callbacks.Backup` keeps the set of every epoch it backs up). A fit resumed in the
    middle of a period then reloads that period's set instead of regenerating it from the resumed
    weights, which are not the weights it was generated from; one resumed after its last epoch
    reports the saved splits. `cleanup()` removes the set once the fine-tune is done. On streamed
    data the trainer's batches are a `keras_lt.data.DiskBatches` whose regeneration writes the
    images to `afr_rebalanced_images.npy` in `directory` (`keras_lt.trainers.afr` puts it there);
    the `.npz` then holds the period and labels, and the backups keep both files.

    In a multi-process run every rank gets the same `directory`; rank 0 alone writes and removes
    there, and a resumed fit's other ranks take the saved set from rank 0 (the trainer's
    `share_rebalanced`), so every rank fine-tunes on the same set.

    Args:
        trainer: a `keras_lt.trainers.AFRTrainer`.
        every: epochs between regenerations (AFR: 10; 2 in short30).
        directory: where the splits and the current set are kept; None keeps them in memory only.
        settings: a dict written with the splits (the fine-tune's settings).
        verbose: print each split when it is made.

    Example:
    >>> regeneration = AFRRegeneration(trainer, 10, "runs/afr")
    >>> trainer.fit(rebalanced, epochs=50, callbacks=[EpochSeeder(rebalanced), *trainer.epoch_callbacks(), regeneration])
    """

    def __init__(self, trainer, every, directory=None, settings=None, verbose=False):
        super().__init__()
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}.")
        self.trainer = trainer
        self.every = int(every)
        self.directory = directory
        self.settings = settings or {}
        self.verbose = verbose
        self.period_start = None
        self.records = []  # one split summary per regeneration

    def on_epoch_begin(self, epoch, logs=None):
        start = epoch - epoch % self.every
        if start == self.period_start:
            return
        # A fit resumed inside a period (epoch > start) continues on the set saved for it; at a
        # period's first epoch a regeneration from the current weights is what the uninterrupted run
        # did, so a set left by an earlier, unfinished fit is never used then.
        if self.period_start is None and epoch > start and self._restore(start):
            self.period_start = start
            return
        record = self.trainer.regenerate(start)
        self.records = [r for r in self.records if r["epoch"] < start] + [record]
        self.period_start = start
        if self.verbose:
            print(describe_split(record))
        if self.directory is not None and distributed.is_main():
            batches = self.trainer.batches
            labels = keras.ops.convert_to_numpy(batches.labels)
            if isinstance(batches, DiskBatches):  # its images are already in their file, REBALANCED_IMAGES_FILE
                arrays = {"period": start, "labels": labels}
            else:
                arrays = {"period": start, "images": keras.ops.convert_to_numpy(batches.images), "labels": labels}
            atomic_write(self._path(STATE_FILE), lambda f: np.savez(f, **arrays))
            self._write_splits()

    @property
    def backup_files(self):
        """The files that a backup of the fit must keep: the current re-balanced set (and its images, streamed)."""
        return [] if self.directory is None else [self._path(STATE_FILE), self._path(REBALANCED_IMAGES_FILE)]

    def on_train_end(self, logs=None):
        if self.period_start is None and self.directory is not None and os.path.isfile(self._path(SPLIT_FILE)):
            self.records = self._saved_records(float("inf"))  # resumed after the last epoch: no epoch ran

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self.records:
            logs["afr_minority"] = self.records[-1]["minority_share"]
            logs["afr_attacked"] = float(self.records[-1]["attacked"])

    def cleanup(self):
        """Removes the saved re-balanced set (the splits stay); rank 0 alone, in a multi-process run."""
        for path in self.backup_files if distributed.is_main() else ():
            if os.path.exists(path):
                os.remove(path)

    def _path(self, name):
        return os.path.join(self.directory, name)

    def _restore(self, start):
        """Reloads the set and splits of the period starting at `start`, if rank 0 saved them; True if so.

        Rank 0 reads them from `directory` (where its backup has put back the set of the epoch it
        resumes from); the other ranks take them from rank 0 (`share_rebalanced` of the trainer).
        """
        restored = distributed.broadcast_object(distributed.is_main() and self._load(start))
        if restored and distributed.is_distributed():
            self.trainer.share_rebalanced()
            self.records = distributed.broadcast_object(self.records)
        return restored

    def _load(self, start):
        """Rank 0's part of `_restore`: the set and splits of the period starting at `start` from `directory`."""
        if self.directory is None or not os.path.isfile(self._path(STATE_FILE)):
            return False
        with np.load(self._path(STATE_FILE)) as state:
            if int(state["period"]) != start:
                return False
            if "images" in state.files:
                self.trainer.set_rebalanced(state["images"], state["labels"])
            elif os.path.isfile(self._path(REBALANCED_IMAGES_FILE)):
                self.trainer.batches.load()
                self.trainer.set_rebalanced(self.trainer.batches.images, state["labels"])
            else:
                return False
        self.records = self._saved_records(start)
        return True

    def _saved_records(self, last):
        """The saved splits of the regenerations up to epoch `last`."""
        with open(self._path(SPLIT_FILE)) as f:
            return [r for r in json.load(f)["regenerations"] if r["epoch"] <= last]

    def _write_splits(self):
        content = json.dumps({"settings": self.settings, "regenerations": self.records}, indent=2)
        atomic_write(self._path(SPLIT_FILE), lambda f: f.write(content.encode()))


def describe_split(split):
    """One printable paragraph of a regeneration's split: thresholds and minority counts per class."""
    classes = split["classes"]
    thresholds = " ".join(f"{c['threshold']:.2f}" for c in classes)
    minority = " ".join(f"{c['minority']}/{c['count']}" for c in classes)
    rule = "adaptive" if split.get("adaptive", True) else "fixed (training accuracy below the adaptive level)"
    return (
        f"AFR split at epoch {split['epoch']}: train accuracy {split['train_accuracy']:.3f}, {rule} thresholds, "
        f"minority share {split['minority_share']:.3f}, {split['attacked']} adversarial images\n"
        f"  thresholds per class: {thresholds}\n  minority/count per class: {minority}"
    )
