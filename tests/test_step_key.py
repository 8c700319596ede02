"""keras_lt.callbacks.step_key: every training step keyed `(epoch, step)` on the trainer, a resumed run's included."""

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras

from keras_lt.callbacks import StepKey
from keras_lt.trainers import ERMTrainer
from tiny_run import tiny_fit


def trainer():
    """A real `ERMTrainer` of a one-layer network: the trainer whose key the callback sets."""
    inputs = keras.Input((3,))
    return ERMTrainer(keras.Model(inputs, keras.layers.Dense(4)(inputs)))


def test_each_step_is_keyed_by_its_epoch_and_its_step_in_the_epoch():
    keyed = trainer()
    assert keyed.step_key is None
    key = StepKey(keyed)
    key.on_epoch_begin(7)
    key.on_train_batch_begin(0)
    assert keyed.step_key == (7, 0)
    key.on_train_batch_begin(3)
    assert keyed.step_key == (7, 3)
    key.on_epoch_begin(8)
    key.on_train_batch_begin(0)
    assert keyed.step_key == (8, 0)


def test_fit_keys_every_step_and_a_resumed_run_keys_from_its_first_epoch():
    """2 steps an epoch; resumed at epoch 1 (as after a backup), the keys are those of epochs 1 and 2."""
    for initial_epoch in (0, 1):
        keyed = trainer()
        seen = []
        record = keras.callbacks.LambdaCallback(on_train_batch_begin=lambda batch, logs: seen.append(keyed.step_key))
        tiny_fit([StepKey(keyed), record], epochs=3, initial_epoch=initial_epoch)
        assert seen == [(epoch, step) for epoch in range(initial_epoch, 3) for step in (0, 1)]
