"""keras_lt.callbacks.step_key: every training step keyed `(epoch, step)` on the trainer, a resumed run's included."""

import types

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras

from keras_lt.callbacks import StepKey
from tiny_run import tiny_fit


def test_each_step_is_keyed_by_its_epoch_and_its_step_in_the_epoch():
    trainer = types.SimpleNamespace(step_key=None)
    key = StepKey(trainer)
    key.on_epoch_begin(7)
    key.on_train_batch_begin(0)
    assert trainer.step_key == (7, 0)
    key.on_train_batch_begin(3)
    assert trainer.step_key == (7, 3)
    key.on_epoch_begin(8)
    key.on_train_batch_begin(0)
    assert trainer.step_key == (8, 0)


def test_fit_keys_every_step_and_a_resumed_run_keys_from_its_first_epoch():
    """2 steps an epoch; resumed at epoch 1 (as after a backup), the keys are those of epochs 1 and 2."""
    for initial_epoch, expected in ((0, [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]), (1, [(1, 0), (1, 1), (2, 0), (2, 1)])):
        trainer = types.SimpleNamespace(step_key=None)
        seen = []
        record = keras.callbacks.LambdaCallback(on_train_batch_begin=lambda batch, logs: seen.append(trainer.step_key))
        tiny_fit([StepKey(trainer), record], epochs=3, initial_epoch=initial_epoch)
        assert seen == expected
