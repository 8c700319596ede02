"""DeferredReweighting and GradientAdjustment: switch epoch, logs, and resume past the switch."""

import keras
import numpy as np
import pytest

from keras_lt.callbacks import DeferredReweighting
from keras_lt.callbacks import GradientAdjustment
from keras_lt.data import long_tailed_counts
from keras_lt.losses import LDAM
from keras_lt.losses import KPSLoss
from keras_lt.losses import effective_number_weights

COUNTS = long_tailed_counts(4, 500, 10)


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
        np.testing.assert_allclose(weights, effective_number_weights(COUNTS, 0.999))


def test_ga_switches_at_start_epoch():
    loss = KPSLoss(COUNTS)
    ga = GradientAdjustment(loss, start_epoch=2)
    observed = []
    for epoch in range(4):
        ga.on_epoch_begin(epoch)
        observed.append(loss.gradient_adjustment)
    assert observed == [False, False, True, True]


def test_resume_past_the_switch_restores_state():
    """A run resumed at epoch 7 (as BackupAndRestore does) starts with the switches on."""
    ldam, kps = LDAM(COUNTS), KPSLoss(COUNTS)
    drw, ga = DeferredReweighting(ldam, start_epoch=5), GradientAdjustment(kps, start_epoch=5)
    assert ldam.class_weight is None and not kps.gradient_adjustment  # fresh objects, no saved state
    drw.on_epoch_begin(7)
    ga.on_epoch_begin(7)
    assert ldam.class_weight is not None and kps.gradient_adjustment


def tiny_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    return keras.Model(inputs, keras.layers.Dense(4, activation="tanh")(inputs))


def test_fit_logs_switch_state_and_initial_epoch():
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    y = np.arange(16) % 4
    loss = KPSLoss(COUNTS)
    model = tiny_model()
    model.compile(optimizer="sgd", loss=loss)
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[GradientAdjustment(loss, 1)])
    assert history.history["ga"] == [0.0, 1.0, 1.0]

    loss = LDAM(COUNTS)
    model.compile(optimizer="sgd", loss=loss)
    history = model.fit(
        x, y, epochs=4, initial_epoch=2, batch_size=8, verbose=0, callbacks=[DeferredReweighting(loss, 2)]
    )
    assert history.history["drw"] == [1.0, 1.0]


class InterruptAt(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("interrupted")


def test_backup_and_restore_resume(tmp_path):
    x = np.random.default_rng(1).normal(size=(16, 3)).astype("float32")
    y = np.arange(16) % 4
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    loss = LDAM(COUNTS)
    model = tiny_model()
    model.compile(optimizer="sgd", loss=loss)
    with pytest.raises(RuntimeError, match="interrupted"):
        callbacks = [backup, InterruptAt(3), DeferredReweighting(loss, 2)]
        model.fit(x, y, epochs=4, batch_size=8, verbose=0, callbacks=callbacks)

    loss = LDAM(COUNTS)  # a fresh process: nothing but the backup survives
    model = tiny_model()
    model.compile(optimizer="sgd", loss=loss)
    callbacks = [backup, DeferredReweighting(loss, 2)]
    history = model.fit(x, y, epochs=4, batch_size=8, verbose=0, callbacks=callbacks)
    assert history.history["drw"] == [1.0]
    assert loss.class_weight is not None
