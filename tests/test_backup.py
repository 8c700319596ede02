"""`keras_lt.callbacks.Backup`: one directory per epoch, exact resume, damaged states skipped, Keras' old layout read."""

import json
import os
import shutil

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np
import pytest

from keras_lt.callbacks import Backup
from keras_lt.callbacks import EpochSeeder
from keras_lt.callbacks.backup import STATE_FILE
from keras_lt.callbacks.backup import WEIGHTS_FILE
from keras_lt.data.pipeline import DeviceBatches
from keras_lt.distributed.restore_only_backup import RestoreOnlyBackup
from keras_lt.errors import KerasLTError
from keras_lt.models import cifar_resnet
from keras_lt.trainers import SGD
from keras_lt.trainers import ERMTrainer
from keras_lt.trainers import WarmupMultiStep
from interruption import interrupting_backup

EPOCHS = 4


def fit(backup=None, epochs=EPOCHS, seed=0, callbacks=(), num_classes=3):
    """A fresh trainer (initial weights from `seed`) fit with deterministic batches and `backup`; stops quietly."""
    rng = np.random.default_rng(0)
    labels = np.arange(24) % 3
    images = rng.integers(0, 256, (24, 8, 8, 3), dtype=np.uint8)
    batches = DeviceBatches(images, labels, num_classes, batch_size=8, seed=3)
    keras.utils.set_random_seed(seed)
    trainer = ERMTrainer(cifar_resnet(8, num_classes, input_shape=(8, 8, 3)))
    schedule = WarmupMultiStep(0.1, len(batches), warmup_epochs=1, milestones=[3], factors=[0.1])
    trainer.compile(optimizer=SGD(schedule, momentum=0.9), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    trainer(batches[0][0][:1])
    keras.utils.set_random_seed(0)  # the draws of the fit do not depend on the initial weights' seed
    try:
        callbacks = [EpochSeeder(batches), *callbacks, *([backup] if backup else [])]
        trainer.fit(batches, epochs=epochs, shuffle=False, verbose=0, callbacks=callbacks)
    except KeyboardInterrupt:
        pass
    return trainer


def weights(trainer):
    return [keras.ops.convert_to_numpy(v) for v in trainer.network.weights]


@pytest.fixture(scope="module")
def straight():
    """The final weights of an uninterrupted fit."""
    return weights(fit())


def assert_straight(trainer, straight):
    for a, b in zip(weights(trainer), straight):
        np.testing.assert_array_equal(a, b)


def stopped_after(directory, epochs):
    """Fits into a kept backup in `directory` and stops once `epochs` epochs are backed up."""
    fit(interrupting_backup(epochs - 1, base=Backup)(directory, keep=True))
    return directory


@pytest.fixture(scope="module")
def stopped_after_3(tmp_path_factory):
    """A backup directory whose fit stopped after 3 of 4 epochs (copy it before changing it)."""
    return stopped_after(str(tmp_path_factory.mktemp("stopped") / "backup"), 3)


def copy_of(directory, tmp_path):
    return shutil.copytree(directory, str(tmp_path / "backup"))


def test_layout_keeps_the_last_two_epochs_and_what_they_hold(stopped_after_3):
    directory = stopped_after_3
    assert sorted(os.listdir(directory)) == ["epoch-000002", "epoch-000003"]
    with open(os.path.join(directory, "epoch-000003", STATE_FILE)) as f:
        state = json.load(f)
    assert state["epoch"] == 3 and state["iterations"] == 3 * 3 and list(state["files"]) == [WEIGHTS_FILE]
    assert Backup(directory).resume_epoch() == 3


def test_resume_is_exact_and_the_backup_goes_once_the_fit_completes(tmp_path, straight):
    directory = stopped_after(str(tmp_path / "backup"), 1)
    resumed = fit(Backup(directory), seed=7)  # other initial weights: everything comes from the backup
    assert_straight(resumed, straight)
    assert not os.path.exists(directory)


def test_keep_leaves_the_backup_for_remove(tmp_path):
    backup = Backup(str(tmp_path / "backup"), keep=True)
    fit(backup, epochs=1)
    assert Backup(backup.directory).resume_epoch() == 1
    backup.remove()
    assert not os.path.exists(backup.directory)


def test_an_unfinished_write_is_ignored(tmp_path, straight):
    """A stop during the first backup write leaves only `epoch-000001.partial`: the fit starts over."""
    directory = str(tmp_path / "backup")
    os.makedirs(os.path.join(directory, "epoch-000001.partial"))
    assert Backup(directory).resume_epoch() == 0
    assert_straight(fit(Backup(directory)), straight)


def truncate(path):
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)


@pytest.mark.parametrize("damage", ["truncated weights", "empty state", "other epoch's weights"])
def test_a_damaged_state_falls_back_to_the_one_before(tmp_path, capsys, straight, stopped_after_3, damage):
    directory = copy_of(stopped_after_3, tmp_path)
    newest, before = (os.path.join(directory, f"epoch-00000{e}") for e in (3, 2))
    if damage == "truncated weights":
        truncate(os.path.join(newest, WEIGHTS_FILE))
    elif damage == "empty state":
        open(os.path.join(newest, STATE_FILE), "w").close()
    else:  # epoch 2's weights under epoch 3's state, checksum made to match: the step count tells
        shutil.copy(os.path.join(before, WEIGHTS_FILE), os.path.join(newest, WEIGHTS_FILE))
        state_path = os.path.join(newest, STATE_FILE)
        with open(state_path) as f:
            state = json.load(f)
        with open(os.path.join(before, STATE_FILE)) as f:
            state["files"] = json.load(f)["files"]
        with open(state_path, "w") as f:
            json.dump(state, f)
    assert Backup(directory).resume_epoch() == (3 if damage == "other epoch's weights" else 2)
    assert_straight(fit(Backup(directory)), straight)
    assert "epoch-000003 is damaged" in capsys.readouterr().err


def test_only_damaged_states_stop_with_one_line(tmp_path, stopped_after_3):
    directory = copy_of(stopped_after_3, tmp_path)
    for name in os.listdir(directory):
        truncate(os.path.join(directory, name, WEIGHTS_FILE))
    with pytest.raises(KerasLTError, match="damaged.*delete .*backup to start this stage again") as error:
        fit(Backup(directory))
    assert "\n" not in str(error.value)


def test_a_backup_of_another_model_is_refused_in_one_line_and_kept_for_its_own(tmp_path, recwarn, straight,
                                                                              stopped_after_3):
    """Intact states of a 3-class model restored into a 4-class one (a run resumed with other data): no damage."""
    directory = copy_of(stopped_after_3, tmp_path)
    with pytest.raises(KerasLTError) as error:
        fit(Backup(directory), num_classes=4)
    message = str(error.value)
    assert message.startswith(f"the backup in {directory} does not fit this model (epoch-000003: A total of ")
    assert message.endswith(
        "it is of a run of another network or number of classes; resume with the recipe and data that run started "
        "with, or choose another --output."
    )
    assert "\n" not in message and "damaged" not in message and "delete" not in message
    assert not [w for w in recwarn if "Skipping" in str(w.message)]  # Keras' warnings of each part it skipped
    assert_straight(fit(Backup(directory)), straight)  # its own model resumes from it


def test_the_files_of_each_epoch_are_put_back(tmp_path):
    kept = tmp_path / "set.txt"

    def replace(text):  # never in place: the backup holds hard links
        (tmp_path / "new").write_text(text)
        os.replace(tmp_path / "new", kept)

    class Regenerates(keras.callbacks.Callback):  # a new file at every epoch begin, as AFR's regeneration
        def on_epoch_begin(self, epoch, logs=None):
            replace(f"epoch {epoch}")

    directory = str(tmp_path / "backup")
    fit(interrupting_backup(1, base=Backup)(directory, keep=True, files=[str(kept)]), callbacks=[Regenerates()])
    replace("epoch 2, begun before the stop")
    fit(RestoreOnlyBackup(directory, files=[str(kept)]), epochs=2)  # another rank's: it puts nothing back
    assert kept.read_text() == "epoch 2, begun before the stop"
    fit(Backup(directory, files=[str(kept)]), epochs=2)  # restores epoch 2's state: nothing left to train
    assert kept.read_text() == "epoch 1"


def test_a_legacy_backup_resumes_exactly_and_is_replaced(tmp_path, straight):
    """A run backed up by `keras.callbacks.BackupAndRestore(double_checkpoint=True)` (keras-lt before
    its own backup) continues with `Backup`; the first new backup replaces the old files."""
    directory = str(tmp_path / "backup")
    fit(interrupting_backup(1)(directory, double_checkpoint=True))  # the old code's backup, after 2 epochs
    assert {"latest.weights.h5", "training_metadata.json", "latest.weights.h5.bkp"} <= set(os.listdir(directory))
    assert Backup(directory).resume_epoch() == 2
    backup = interrupting_backup(2, base=Backup)(directory, keep=True)
    fit(backup, seed=7)  # restores the old layout, trains epoch 2, writes the new layout, stops
    assert sorted(os.listdir(directory)) == ["epoch-000003"]
    assert_straight(fit(Backup(directory), seed=9), straight)


def test_a_legacy_backup_stopped_between_its_weights_and_metadata_uses_the_copies(tmp_path, straight):
    """Keras wrote epoch 3's weights but not yet its metadata: epoch 2's `.bkp` pair is the state."""
    directory = str(tmp_path / "backup")
    fit(interrupting_backup(2)(directory, double_checkpoint=True))  # weights and metadata: epoch 3, .bkp: 2
    metadata = os.path.join(directory, "training_metadata.json")
    shutil.copy(f"{metadata}.bkp", metadata)  # as if the stop came before the metadata was rewritten
    assert Backup(directory).resume_epoch() == 2
    assert_straight(fit(Backup(directory), seed=7), straight)


def test_an_unchanged_extra_file_is_read_for_its_checksum_once(tmp_path, monkeypatch):
    """A file kept beside the training (AFR's set) is hashed when it is new, not at every epoch's backup."""
    from keras_lt.callbacks import backup as backup_module

    kept = tmp_path / "set.bin"
    kept.write_bytes(b"period 0")
    hashed = []
    sha256 = backup_module._sha256
    monkeypatch.setattr(backup_module, "_sha256", lambda path: hashed.append(os.path.basename(path)) or sha256(path))

    class Regenerates(keras.callbacks.Callback):  # a new file before epoch 2, as AFR's regeneration every 2
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                (tmp_path / "new").write_bytes(b"period 1")
                os.replace(tmp_path / "new", kept)

    directory = tmp_path / "backup"
    fit(Backup(str(directory), keep=True, files=[str(kept)]), callbacks=[Regenerates()])
    assert hashed.count("set.bin") == 2  # epochs 1 and 3 reuse the checksums of 0 and 2
    assert hashed.count(WEIGHTS_FILE) == EPOCHS
    states = sorted(os.listdir(directory))
    for state in states:  # the reused checksums are the files' own
        with open(directory / state / STATE_FILE) as f:
            recorded = json.load(f)["files"]
        assert recorded[os.path.join("files", "set.bin")] == sha256(str(directory / state / "files" / "set.bin"))


def test_a_resume_reads_and_checks_its_state_once(tmp_path, monkeypatch, straight, stopped_after_3):
    """`resume_epoch` (the run trims its log with it) and the restore share one check of the state's files."""
    from keras_lt.callbacks import backup as backup_module

    directory = copy_of(stopped_after_3, tmp_path)
    hashed = []
    sha256 = backup_module._sha256
    monkeypatch.setattr(backup_module, "_sha256", lambda path: hashed.append(os.path.relpath(path, directory)) or sha256(path))
    backup = Backup(directory)
    assert backup.resume_epoch() == 3 and backup.resume_epoch() == 3
    assert_straight(fit(backup), straight)
    assert hashed.count(os.path.join("epoch-000003", WEIGHTS_FILE)) == 1


def test_a_state_written_again_is_checked_again(tmp_path, capsys, stopped_after_3):
    """A damaged newest state is passed over; once the fit writes that epoch again, it is the one to resume."""
    directory = copy_of(stopped_after_3, tmp_path)
    truncate(os.path.join(directory, "epoch-000003", WEIGHTS_FILE))
    backup = interrupting_backup(2, base=Backup)(directory, keep=True)  # stops once epoch 3 is written again
    assert backup.resume_epoch() == 2
    fit(backup)
    assert "epoch-000003 is damaged" in capsys.readouterr().err
    assert backup.resume_epoch() == 3
