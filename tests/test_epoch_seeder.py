"""keras_lt.callbacks.epoch_seeder: every epoch number, a resumed run's included, reaches `batches.set_epoch`."""

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import torch

from keras_lt.callbacks import EpochSeeder
from keras_lt.data.batches import TrainingBatches
from test_batches import LABELS
from test_batches import seeded
from tiny_run import tiny_fit


def orders_seen(initial_epoch, epochs):
    """The order of real `TrainingBatches` (seed 5) at each step of a `tiny_fit` with its `EpochSeeder`."""
    batches = TrainingBatches(LABELS, 3, batch_size=4, seed=5, device="cpu")
    batches.set_epoch(9)  # an epoch the run never reaches: each order seen was drawn by the seeder
    seen = []
    record = keras.callbacks.LambdaCallback(on_train_batch_begin=lambda batch, logs: seen.append(batches.order.clone()))
    tiny_fit([EpochSeeder(batches), record], epochs=epochs, initial_epoch=initial_epoch)
    return seen


def test_epoch_seeder_passes_each_epoch():
    for initial_epoch, epochs in ((0, 3), (2, 4)):  # a fresh run; one resumed at epoch 2, as after BackupAndRestore
        seen = orders_seen(initial_epoch, epochs)
        assert len(seen) == 2 * (epochs - initial_epoch)  # tiny_fit: 2 steps an epoch
        for step, order in enumerate(seen):
            epoch = initial_epoch + step // 2
            torch.testing.assert_close(order, torch.randperm(len(LABELS), generator=seeded(5, epoch)))
