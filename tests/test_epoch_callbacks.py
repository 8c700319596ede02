"""EpochSeeder and EpochLog: the epoch reaches the pipeline; lr and seconds reach the CSV log."""

import csv

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np
import pytest

from keras_lt.callbacks import EpochLog
from keras_lt.callbacks import EpochSeeder
from keras_lt.callbacks import epoch_log
from keras_lt.trainers import SGD
from keras_lt.trainers import CosineToZero
from keras_lt.trainers import WarmupMultiStep


class RecordingBatches:
    def __init__(self):
        self.epochs = []

    def set_epoch(self, epoch):
        self.epochs.append(epoch)


def tiny_fit(callbacks, epochs=3, initial_epoch=0):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    model.compile(optimizer="sgd", loss="mse")
    x = np.zeros((4, 3), "float32")
    model.fit(
        x, x[:, :2], batch_size=2, epochs=epochs, initial_epoch=initial_epoch, callbacks=callbacks, verbose=0
    )


def test_epoch_seeder_passes_each_epoch():
    batches = RecordingBatches()
    tiny_fit([EpochSeeder(batches)], epochs=3)
    assert batches.epochs == [0, 1, 2]
    resumed = RecordingBatches()
    tiny_fit([EpochSeeder(resumed)], epochs=4, initial_epoch=2)  # as after BackupAndRestore
    assert resumed.epochs == [2, 3]


def test_epoch_log_writes_lr_and_seconds(monkeypatch):
    clock = iter([10.0, 12.5, 20.0, 20.25])
    monkeypatch.setattr(epoch_log.time, "perf_counter", lambda: next(clock))
    log = EpochLog(WarmupMultiStep(0.1, 5, warmup_epochs=2, milestones=[3], factors=[0.1]))
    rows = []
    for epoch in (0, 3):
        logs = {"loss": 1.0}
        log.on_epoch_begin(epoch)
        log.on_epoch_end(epoch, logs)
        rows.append(logs)
    assert rows == [
        {"loss": 1.0, "lr": 0.05, "seconds": 2.5},
        {"loss": 1.0, "lr": pytest.approx(0.01), "seconds": 0.25},
    ]


def test_epoch_log_columns_reach_the_csv_log(tmp_path):
    path = tmp_path / "log.csv"
    schedule = WarmupMultiStep(0.2, 2, warmup_epochs=2, milestones=[2], factors=[0.5])
    tiny_fit([EpochLog(schedule), keras.callbacks.CSVLogger(str(path))], epochs=3)
    with open(path) as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    np.testing.assert_allclose([float(r["lr"]) for r in rows], [0.1, 0.2, 0.1])
    assert all(float(r["seconds"]) >= 0 for r in rows)


def test_epoch_log_without_a_schedule_logs_the_optimizers_rate_at_each_epochs_first_step(tmp_path):
    """A per-step cosine from 0.4 to 0 over 3 epochs of 2 steps: rates at steps 0, 2, 4."""
    path = tmp_path / "log.csv"
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    model.compile(optimizer=SGD(CosineToZero(0.4, 6)), loss="mse")
    x = np.zeros((4, 3), "float32")
    model.fit(x, x[:, :2], batch_size=2, epochs=3, verbose=0, callbacks=[EpochLog(), keras.callbacks.CSVLogger(str(path))])
    with open(path) as f:
        rows = list(csv.DictReader(f))
    expected = [0.4 * 0.5 * (1 + np.cos(np.pi * step / 6)) for step in (0, 2, 4)]
    np.testing.assert_allclose([float(r["lr"]) for r in rows], expected, rtol=1e-6)
