"""`keras_lt.callbacks.StopOnDivergence`: one line at the first loss or weights not finite, before the backup."""

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np
import pytest

from keras_lt.callbacks import Backup
from keras_lt.callbacks import StopOnDivergence
from keras_lt.callbacks import TrainingDiverged


def test_the_first_loss_that_is_not_finite_stops_with_one_line():
    stop = StopOnDivergence("the fine-tune", "the recipe's finetune lr")
    stop.on_epoch_begin(4)
    stop.on_train_batch_end(0, {"loss": 2.3})
    stop.on_train_batch_end(1, {})
    for loss in (float("nan"), float("inf")):
        with pytest.raises(TrainingDiverged) as error:
            stop.on_train_batch_end(2, {"loss": loss})
        assert str(error.value) == (
            f"the fine-tune diverged (loss {loss}) in epoch 5: lower the learning rate (the recipe's finetune lr)"
        )


def diverging_fit(tmp_path, lr, samples, scale):
    """Fits a linear `Dense(4)` by MSE with SGD at `lr` on `samples` points of 3-d (times `scale`), 8 a batch.

    A `StopOnDivergence` stands before a kept `Backup`; returns the `TrainingDiverged` and the backup.
    """
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(4)(inputs))
    model.compile(optimizer=keras.optimizers.SGD(lr), loss="mse")
    x = np.random.default_rng(0).normal(size=(samples, 3)).astype("float32") * scale
    backup = Backup(str(tmp_path / "backup"), keep=True)
    with pytest.raises(TrainingDiverged) as error:
        model.fit(x, x[:, [0, 1, 2, 0]], batch_size=8, epochs=2, callbacks=[StopOnDivergence(), backup], verbose=0)
    return error.value, backup


def test_a_fit_that_diverges_stops_before_its_backup_saves_the_epoch(tmp_path):
    """Keras calls it asynchronously; the divergence is raised before the epoch-end callbacks all the same."""
    error, backup = diverging_fit(tmp_path, lr=1e30, samples=64, scale=1.0)
    assert str(error).startswith(tuple(f"training diverged (loss {loss}) in epoch 1: " for loss in ("nan", "inf")))
    assert backup.resume_epoch() == 0


def test_weights_that_the_last_step_made_nan_stop_the_fit_at_the_epochs_end(tmp_path):
    """One step an epoch: its loss, computed before the update, is finite; the weights after it are not."""
    error, backup = diverging_fit(tmp_path, lr=1e38, samples=8, scale=1e3)
    assert str(error) == (
        "training diverged (weights not finite) in epoch 1: lower the learning rate (--lr, or the recipe's lr)"
    )
    assert backup.resume_epoch() == 0
