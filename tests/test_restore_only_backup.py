"""`keras_lt.distributed.restore_only_backup`: the backup of the ranks that do not write restores rank 0's state and writes nothing."""

import os

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np

from keras_lt.callbacks import Backup
from keras_lt.distributed.restore_only_backup import RestoreOnlyBackup

X = np.random.default_rng(0).normal(size=(12, 4)).astype("float32")
Y = X @ np.arange(12, dtype="float32").reshape(4, 3)


def fit(backup, epochs, seed):
    """A fresh linear model (initial weights from `seed`) fit by plain SGD, batches in order; its weights."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="mse")
    model(X[:1])
    model.fit(X, Y, batch_size=4, epochs=epochs, shuffle=False, verbose=0, callbacks=[backup])
    return [keras.ops.convert_to_numpy(w) for w in model.weights]


def contents(directory):
    """`{path: bytes}` of every file under `directory`."""
    found = {}
    for root, _, names in os.walk(directory):
        for name in names:
            with open(os.path.join(root, name), "rb") as f:
                found[os.path.relpath(os.path.join(root, name), directory)] = f.read()
    return found


def test_it_restores_rank_0s_state_and_never_writes_or_removes(tmp_path):
    directory = str(tmp_path / "backup")
    saved = fit(Backup(directory, keep=True), epochs=2, seed=0)  # rank 0: states after epochs 1 and 2
    before = contents(directory)
    assert before
    restored = fit(RestoreOnlyBackup(directory), epochs=2, seed=1)  # other initial weights; nothing left to train
    for a, b in zip(restored, saved):
        np.testing.assert_array_equal(a, b)
    other_rank = fit(RestoreOnlyBackup(directory), epochs=3, seed=1)  # trains epoch 3, keep=False
    backup = RestoreOnlyBackup(directory)
    backup.remove()
    assert contents(directory) == before  # no new state, nothing removed at the end or by remove()
    rank_0 = fit(Backup(directory, keep=True), epochs=3, seed=2)  # the writing rank continues the same way
    for a, b in zip(other_rank, rank_0):
        np.testing.assert_array_equal(a, b)
    assert "epoch-000003" in os.listdir(directory)
