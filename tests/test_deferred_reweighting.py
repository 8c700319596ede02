"""keras_lt.callbacks.deferred_reweighting: effective-number class weights from `start_epoch`, logged as `drw`."""

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np
import pytest

from keras_lt.callbacks import DeferredReweighting
from keras_lt.data import long_tailed_counts
from keras_lt.losses import LDAM
from interruption import interrupting_backup
from tiny_run import tiny_fit

COUNTS = long_tailed_counts(4, 500, 10)


def drw_weights(counts, beta):
    """Cao et al.'s DRW weights written out: `(1 - beta) / (1 - beta ** n_c)`, normalised to sum C."""
    weights = (1 - beta) / (1 - beta ** np.asarray(counts, "float64"))
    return weights * len(counts) / weights.sum()


def test_drw_switches_at_start_epoch():
    loss = LDAM(COUNTS)
    drw = DeferredReweighting(loss, start_epoch=3, beta=0.999)
    states = []
    for epoch in range(5):
        drw.on_epoch_begin(epoch)
        states.append(loss.class_weight)
        logs = {}
        drw.on_epoch_end(epoch, logs)
        assert logs["drw"] == (1.0 if epoch >= 3 else 0.0)
    assert states[:3] == [None, None, None]
    for weights in states[3:]:
        np.testing.assert_allclose(weights, drw_weights(COUNTS, 0.999), rtol=1e-6)


def test_the_defaults_are_the_cifar_recipes_switch_at_160_with_beta_0_9999():
    loss = LDAM(COUNTS)
    drw = DeferredReweighting(loss)
    drw.on_epoch_begin(159)
    assert loss.class_weight is None
    drw.on_epoch_begin(160)
    np.testing.assert_allclose(loss.class_weight, drw_weights(COUNTS, 0.9999), rtol=1e-6)
    assert loss.class_weight[-1] > loss.class_weight[0]  # the tail class weighs most


def test_resume_past_the_switch_restores_the_weights():
    """A run resumed at epoch 7 (as a backup does) starts re-weighted: the state comes from the epoch alone."""
    loss = LDAM(COUNTS)
    drw = DeferredReweighting(loss, start_epoch=5)
    assert loss.class_weight is None  # a fresh object, no saved state
    drw.on_epoch_begin(7)
    np.testing.assert_allclose(loss.class_weight, drw_weights(COUNTS, 0.9999), rtol=1e-6)


def test_fit_logs_the_switch_from_initial_epoch():
    loss = LDAM(COUNTS)
    history = tiny_fit([DeferredReweighting(loss, 2)], epochs=4, initial_epoch=2, loss=loss)
    assert history.history["drw"] == [1.0, 1.0]


def test_backup_and_restore_resume(tmp_path):
    backup = str(tmp_path / "backup")
    loss = LDAM(COUNTS)
    with pytest.raises(KeyboardInterrupt):  # stopped once epoch 2's backup is written
        tiny_fit([interrupting_backup(2)(backup), DeferredReweighting(loss, 2)], epochs=4, loss=loss)

    loss = LDAM(COUNTS)  # a fresh process: nothing but the backup survives
    history = tiny_fit([keras.callbacks.BackupAndRestore(backup), DeferredReweighting(loss, 2)], epochs=4, loss=loss)
    assert history.history["drw"] == [1.0]
    np.testing.assert_allclose(loss.class_weight, drw_weights(COUNTS, 0.9999), rtol=1e-6)
