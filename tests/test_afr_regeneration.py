"""AFRRegeneration: one regeneration per period, the saved set reloaded on resume, splits written as they come."""

import json
import os
import types

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import numpy as np
import torch

from keras_lt.callbacks import AFRRegeneration
from keras_lt.callbacks.afr_regeneration import REBALANCED_IMAGES_FILE
from keras_lt.callbacks.afr_regeneration import SPLIT_FILE
from keras_lt.callbacks.afr_regeneration import STATE_FILE
from keras_lt.callbacks.afr_regeneration import describe_split


class FakeTrainer:
    """Regenerates a set whose pixels are the period's first epoch; records what it is asked."""

    def __init__(self):
        self.batches = types.SimpleNamespace(images=None, labels=None)
        self.regenerated, self.restored = [], []

    def regenerate(self, epoch):
        self.regenerated.append(epoch)
        self.set_rebalanced(np.full((4, 2, 2, 3), epoch, np.uint8), np.arange(4) % 2)
        classes = [{"class": c, "count": 2, "accuracy": 0.5, "threshold": 0.5, "minority": 1, "majority": 1,
                    "attacked": epoch % 2} for c in range(2)]
        return {"epoch": epoch, "train_accuracy": 0.5, "minority_share": epoch / 10, "attacked": epoch, "classes": classes}

    def set_rebalanced(self, images, labels):
        self.batches.images, self.batches.labels = torch.as_tensor(images), torch.as_tensor(labels)
        self.restored.append(int(np.asarray(images).flat[0]))


def run_epochs(callback, epochs):
    logs = []
    for epoch in epochs:
        callback.on_epoch_begin(epoch)
        logs.append({})
        callback.on_epoch_end(epoch, logs[-1])
    return logs


def test_one_regeneration_per_period_and_the_logged_columns():
    trainer = FakeTrainer()
    callback = AFRRegeneration(trainer, every=2)
    logs = run_epochs(callback, range(5))
    assert trainer.regenerated == [0, 2, 4]
    assert [r["epoch"] for r in callback.records] == [0, 2, 4]
    assert [log["afr_minority"] for log in logs] == [0.0, 0.0, 0.2, 0.2, 0.4]
    assert [log["afr_attacked"] for log in logs] == [0.0, 0.0, 2.0, 2.0, 4.0]


def test_a_fit_started_inside_a_period_regenerates_for_its_first_epoch():
    trainer = FakeTrainer()
    run_epochs(AFRRegeneration(trainer, every=5), [7, 8, 9, 10])
    assert trainer.regenerated == [5, 10]


def test_the_splits_and_the_current_set_are_written_and_a_resume_reloads_the_set(tmp_path):
    directory = str(tmp_path)
    first = FakeTrainer()
    run_epochs(AFRRegeneration(first, every=2, directory=directory, settings={"eps": 0.6}), range(4))  # stop after 3
    with open(os.path.join(directory, SPLIT_FILE)) as f:
        written = json.load(f)
    assert written["settings"] == {"eps": 0.6} and [r["epoch"] for r in written["regenerations"]] == [0, 2]
    with np.load(os.path.join(directory, STATE_FILE)) as state:
        assert int(state["period"]) == 2 and np.all(state["images"] == 2)
    assert not [name for name in os.listdir(directory) if name.endswith(".tmp")]

    resumed = FakeTrainer()  # restored at epoch 3: same period, the saved set, no regeneration
    callback = AFRRegeneration(resumed, every=2, directory=directory, settings={"eps": 0.6})
    run_epochs(callback, [3, 4])
    assert resumed.regenerated == [4] and resumed.restored[0] == 2
    assert [r["epoch"] for r in callback.records] == [0, 2, 4]
    callback.cleanup()
    assert sorted(os.listdir(directory)) == [SPLIT_FILE]


def test_a_saved_set_of_another_period_is_not_used(tmp_path):
    directory = str(tmp_path)
    run_epochs(AFRRegeneration(FakeTrainer(), every=2, directory=directory), range(2))  # period 0 saved
    later = FakeTrainer()  # resumed at epoch 2 (the stop came after epoch 1's backup): a new period
    run_epochs(AFRRegeneration(later, every=2, directory=directory), [2])
    assert later.regenerated == [2]


def test_a_fresh_fit_regenerates_even_where_an_unfinished_fit_left_a_set(tmp_path):
    directory = str(tmp_path)
    run_epochs(AFRRegeneration(FakeTrainer(), every=2, directory=directory), [0])  # stopped before any backup
    fresh = FakeTrainer()
    run_epochs(AFRRegeneration(fresh, every=2, directory=directory), [0, 1])
    assert fresh.regenerated == [0] and fresh.restored == [0]  # its own set, made at epoch 0


def test_a_fit_resumed_after_its_last_epoch_reports_the_saved_splits(tmp_path):
    directory = str(tmp_path)
    first = AFRRegeneration(FakeTrainer(), every=2, directory=directory)
    run_epochs(first, range(4))
    assert first.backup_files == [os.path.join(directory, name) for name in (STATE_FILE, REBALANCED_IMAGES_FILE)]
    resumed = AFRRegeneration(FakeTrainer(), every=2, directory=directory)
    resumed.on_train_end()  # its backup was of the last epoch: no epoch ran
    assert resumed.records == first.records and AFRRegeneration(FakeTrainer(), 2).backup_files == []


def test_describe_split_names_thresholds_and_minority_counts():
    text = describe_split(FakeTrainer().regenerate(3))
    assert text.splitlines()[0] == (
        "AFR split at epoch 3: train accuracy 0.500, adaptive thresholds, minority share 0.300, 3 adversarial images"
    )
    assert "thresholds per class: 0.50 0.50" in text and "minority/count per class: 1/2 1/2" in text
