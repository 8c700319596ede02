"""keras_lt.callbacks.gradient_adjustment: KPS' gradient adjustment on from `start_epoch`, logged as `ga`."""

from keras_lt.callbacks import GradientAdjustment
from keras_lt.losses import KPSLoss
from tiny_run import tiny_fit

COUNTS = (500, 120, 30, 5)


def test_ga_switches_at_start_epoch():
    loss = KPSLoss(COUNTS)
    ga = GradientAdjustment(loss, start_epoch=2)
    observed = []
    for epoch in range(4):
        ga.on_epoch_begin(epoch)
        observed.append(loss.gradient_adjustment)
    assert observed == [False, False, True, True]


def test_the_default_is_the_cifar_recipes_switch_at_120_logged_as_ga():
    loss = KPSLoss(COUNTS)
    ga = GradientAdjustment(loss)
    states, logged = [], []
    for epoch in (119, 120):
        logs = {}
        ga.on_epoch_begin(epoch)
        states.append(loss.gradient_adjustment)
        ga.on_epoch_end(epoch, logs)
        logged.append(logs)
    assert states == [False, True] and logged == [{"ga": 0.0}, {"ga": 1.0}]


def test_resume_past_the_switch_restores_the_adjustment():
    """A run resumed at epoch 7 (as a backup does) starts adjusted: the state comes from the epoch alone."""
    loss = KPSLoss(COUNTS)
    ga = GradientAdjustment(loss, start_epoch=5)
    assert not loss.gradient_adjustment  # a fresh object, no saved state
    ga.on_epoch_begin(7)
    assert loss.gradient_adjustment


def test_fit_logs_the_switch_state():
    loss = KPSLoss(COUNTS)
    history = tiny_fit([GradientAdjustment(loss, 1)], epochs=3, loss=loss)
    assert history.history["ga"] == [0.0, 1.0, 1.0]
