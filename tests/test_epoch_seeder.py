"""keras_lt.callbacks.epoch_seeder: every epoch number, a resumed run's included, reaches `batches.set_epoch`."""

from keras_lt.callbacks import EpochSeeder
from tiny_run import tiny_fit


class RecordingBatches:
    def __init__(self):
        self.epochs = []

    def set_epoch(self, epoch):
        self.epochs.append(epoch)


def test_epoch_seeder_passes_each_epoch():
    batches = RecordingBatches()
    tiny_fit([EpochSeeder(batches)], epochs=3)
    assert batches.epochs == [0, 1, 2]
    resumed = RecordingBatches()
    tiny_fit([EpochSeeder(resumed)], epochs=4, initial_epoch=2)  # as after BackupAndRestore
    assert resumed.epochs == [2, 3]
