"""keras_lt.callbacks.epoch_log: each epoch's learning rate and wall time in its logs and the CSV log."""

import csv

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np
import pytest

from keras_lt.callbacks import EpochLog
from keras_lt.callbacks import epoch_log
from keras_lt.trainers import SGD
from keras_lt.trainers import CosineToZero
from keras_lt.trainers import WarmupMultiStep
from tiny_run import tiny_fit


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


def test_seconds_are_rounded_to_hundredths_and_no_logs_is_no_error(monkeypatch):
    clock = iter([1.0, 4.14159, 5.0, 6.0])
    monkeypatch.setattr(epoch_log.time, "perf_counter", lambda: next(clock))
    log = EpochLog(WarmupMultiStep(0.1, 5, warmup_epochs=0, milestones=[], factors=[]))
    logs = {}
    log.on_epoch_begin(0)
    log.on_epoch_end(0, logs)
    assert logs == {"lr": pytest.approx(0.1), "seconds": 3.14}
    log.on_epoch_begin(1)
    log.on_epoch_end(1)  # a bare call: nothing to write


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
    callbacks = [EpochLog(), keras.callbacks.CSVLogger(str(path))]
    tiny_fit(callbacks, epochs=3, optimizer=SGD(CosineToZero(0.4, 6)))
    with open(path) as f:
        rows = list(csv.DictReader(f))
    expected = [0.4 * 0.5 * (1 + np.cos(np.pi * step / 6)) for step in (0, 2, 4)]
    np.testing.assert_allclose([float(r["lr"]) for r in rows], expected, rtol=1e-6)
