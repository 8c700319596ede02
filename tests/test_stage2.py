"""`keras_lt.trainers.stage2`: the callbacks (the seeder first, the caller's, a crash-safe backup) and the input checks."""

import os

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np
import pytest

from keras_lt.callbacks import Backup
from keras_lt.callbacks import EpochLog
from keras_lt.callbacks import EpochSeeder
from keras_lt.data.pipeline import DeviceBatches
from keras_lt.errors import KerasLTError
from keras_lt.models import cifar_resnet
from keras_lt.trainers import SGD
from keras_lt.trainers import ERMTrainer
from keras_lt.trainers import stage2_callbacks
from keras_lt.trainers.stage2 import BACKUP_DIR
from keras_lt.trainers.stage2 import check_stage2_data


def batches():
    labels = np.arange(12) % 3
    images = np.random.default_rng(0).integers(0, 256, (12, 8, 8, 3), dtype=np.uint8)
    return DeviceBatches(images, labels, 3, batch_size=4)


def test_without_a_directory_there_is_no_backup():
    data, log = batches(), keras.callbacks.History()
    callbacks = stage2_callbacks(data, [log])
    assert isinstance(callbacks[0], EpochSeeder) and callbacks[0].batches is data
    assert isinstance(callbacks[1], EpochLog) and callbacks[1].schedule is None
    assert callbacks[2:] == [log]


def test_with_a_directory_every_epoch_is_backed_up_until_the_fit_completes(tmp_path):
    data = batches()
    callbacks = stage2_callbacks(data, [], str(tmp_path))
    backup = callbacks[-1]
    assert isinstance(backup, Backup) and not backup.keep
    assert backup.directory == os.path.join(str(tmp_path), BACKUP_DIR)

    class Look(keras.callbacks.Callback):
        seen = []

        def on_epoch_end(self, epoch, logs=None):
            self.seen.append(backup.resume_epoch())

    keras.utils.set_random_seed(0)
    trainer = ERMTrainer(cifar_resnet(8, 3, input_shape=(8, 8, 3)))
    trainer.compile(optimizer=SGD(0.1), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    trainer.fit(data, epochs=2, shuffle=False, verbose=0, callbacks=[*callbacks, Look()])
    assert Look.seen == [1, 2]  # written at every epoch end (before Look, which comes after)
    assert not os.path.exists(backup.directory)  # and removed once the fit completed


def test_the_callers_backup_is_used_and_keeps_the_files_the_callbacks_name(tmp_path):
    class KeepsAFile(keras.callbacks.Callback):
        backup_files = [str(tmp_path / "set.npz")]

    mine = Backup(str(tmp_path / "mine"), keep=True)
    callbacks = stage2_callbacks(batches(), [KeepsAFile(), mine], str(tmp_path))
    assert [c for c in callbacks if isinstance(c, Backup)] == [mine]  # no second one in finetune_backup
    assert mine.files == [str(tmp_path / "set.npz")]


def test_the_seeder_sets_each_epochs_order():
    data = batches()
    seeder = stage2_callbacks(data)[0]
    seeder.on_epoch_begin(3)
    assert data.epoch == 3


@pytest.mark.parametrize("images, labels, epochs, message", [
    (None, np.zeros(3, int), 1, "cRT trains on the training set: pass the training images and labels."),
    (np.zeros((3, 8, 8, 3)), np.zeros(3, int), 0, "cRT needs at least 1 epoch, got 0."),
    (np.zeros((3, 8, 8, 3)), np.array([0, 1, 4]), 1, "labels go up to 4 but the model has 4 classes;"),
])
def test_a_stage2_without_data_epochs_or_fitting_labels_is_refused_in_one_line(images, labels, epochs, message):
    with pytest.raises(KerasLTError) as error:
        check_stage2_data("cRT", images, labels, epochs, num_classes=4)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)
    check_stage2_data("cRT", np.zeros((3, 8, 8, 3)), np.array([0, 1, 3]), 1, num_classes=4)  # fits
