"""keras_lt.callbacks.isda_ramp: `isda_lambda = lam0 * t / T` before every step, from the epoch and step alone."""

import numpy as np
import pytest

from keras_lt.callbacks import ISDARamp
from keras_lt.trainers import LatentISDA
from tiny_run import tiny_fit


def test_the_ramp_rises_linearly_over_the_iterations_and_logs_each_epochs_last_step():
    isda = LatentISDA(lam0=0.5)
    ramp = ISDARamp(isda, epochs=2, steps_per_epoch=3)
    seen, logged = [], []
    for epoch in range(2):
        ramp.on_epoch_begin(epoch)
        for step in range(3):
            ramp.on_train_batch_begin(step)
            seen.append(isda.isda_lambda)
        logs = {}
        ramp.on_epoch_end(epoch, logs)
        logged.append(logs["isda_lambda"])
    expected = 0.5 * np.arange(6) / 6  # t = 0..5 of T = 6: from 0, never reaching lam0
    np.testing.assert_allclose(seen, expected)
    np.testing.assert_allclose(logged, expected[[2, 5]])


def test_a_resumed_run_sets_the_value_of_its_step_with_no_saved_state():
    isda = LatentISDA(lam0=0.4)
    ramp = ISDARamp(isda, epochs=10, steps_per_epoch=50)
    ramp.on_epoch_begin(7)
    ramp.on_train_batch_begin(20)
    assert isda.isda_lambda == pytest.approx(0.4 * (7 * 50 + 20) / 500)


def test_without_explicit_sizes_the_ramp_uses_the_fit_runs_epochs_and_steps():
    """3 epochs of 2 steps (T = 6); logged: t = 1, 3, 5. A run resumed at epoch 2 logs t = 5 alone."""
    isda = LatentISDA(lam0=0.5)
    history = tiny_fit([ISDARamp(isda)], epochs=3)
    np.testing.assert_allclose(history.history["isda_lambda"], 0.5 * np.array([1, 3, 5]) / 6)
    resumed = tiny_fit([ISDARamp(LatentISDA(lam0=0.5))], epochs=3, initial_epoch=2)
    np.testing.assert_allclose(resumed.history["isda_lambda"], [0.5 * 5 / 6])


def test_explicit_sizes_win_over_the_fit_runs():
    """A 1-epoch fit of 2 steps ramped as a 4-epoch run of 10 steps: the last step is t = 1 of T = 40."""
    isda = LatentISDA(lam0=0.5)
    history = tiny_fit([ISDARamp(isda, epochs=4, steps_per_epoch=10)], epochs=1)
    np.testing.assert_allclose(history.history["isda_lambda"], [0.5 * 1 / 40])


def test_a_run_of_unknown_length_is_refused_rather_than_ramped_past_lam0():
    ramp = ISDARamp(LatentISDA(lam0=0.5))
    ramp.set_params({"epochs": 2, "steps": None})  # `fit` on an iterator without a length
    ramp.on_epoch_begin(1)
    with pytest.raises(ValueError, match="ISDARamp needs the run's length"):
        ramp.on_train_batch_begin(9)
