"""`keras_lt.training`: a recipe end to end, exact resume at every stop, no joining a live run, failed runs cleaned up."""

import csv
import dataclasses
import json
import os
import shutil

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np
import pytest
from safetensors.numpy import load_file

from keras_lt import callbacks as lt_callbacks
from keras_lt import hub
from keras_lt import run_directory
from keras_lt import training
from keras_lt.callbacks import Backup
from keras_lt.callbacks import backup as backup_module
from keras_lt.data.image_files import WORKERS_ENV
from keras_lt.errors import KerasLTError
from keras_lt.run_lock import RunLock
from keras_lt.trainers import stage2
from keras_lt.trainers.stage2 import BACKUP_DIR as FINETUNE_BACKUP_DIR
from interruption import interrupting_backup
from tiny_run import interrupted_run
from tiny_run import snapshot
from tiny_run import tiny_data
from tiny_run import tiny_folder
from tiny_run import tiny_recipe

pytestmark = pytest.mark.usefixtures("tiny_architecture")


def read_log(output_dir):
    with open(os.path.join(output_dir, run_directory.LOG_FILE)) as f:
        return list(csv.DictReader(f))


def test_train_end_to_end(tmp_path):
    out = str(tmp_path / "run")
    recipe = tiny_recipe()
    data = tiny_data()
    report = training.train(recipe, out, data=data, verbose=0)
    written = ("config.json", "model.safetensors", "README.md", "train_log.csv", "metrics.json", "recipe.json")
    for name in written:
        assert os.path.isfile(os.path.join(out, name)), name
    assert not os.path.exists(os.path.join(out, run_directory.BACKUP_DIR))  # removed once finished

    rows = read_log(out)
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    np.testing.assert_allclose([float(r["lr"]) for r in rows], [0.1, 0.01])  # warmup 1, x0.1 at 1
    assert all(float(r["seconds"]) >= 0 and np.isfinite(float(r["loss"])) for r in rows)

    with open(os.path.join(out, run_directory.METRICS_FILE)) as f:
        assert json.load(f) == report
    with open(os.path.join(out, "recipe.json")) as f:
        assert json.load(f) == recipe.to_dict()

    model = hub.from_pretrained(out)
    assert model.keras_lt_config["name"] == "tiny-ce"
    assert model.keras_lt_config["train_class_counts"] == [8, 8, 8]
    run = model.keras_lt_config["run"]  # the machine and time the card's numbers come from
    assert run["device"].startswith(("CPU", "GPU"))
    assert run["train_seconds"] == pytest.approx(sum(float(r["seconds"]) for r in rows), abs=0.2)
    with open(os.path.join(out, "README.md")) as f:
        assert "Trained on " + run["device"] in f.read()
    logits = keras.ops.convert_to_numpy(model.predict(data.test_images, verbose=0))
    top1 = 100.0 * np.mean(logits.argmax(1) == data.test_labels)
    assert report["top1"] == pytest.approx(top1)


def test_a_streamed_folder_run_scores_its_validation_split_every_epoch(tmp_path, monkeypatch):
    monkeypatch.setenv(WORKERS_ENV, "0")  # decoding in the test process: no worker start-up per epoch
    out = str(tmp_path / "run")
    recipe = tiny_recipe(
        dataset="folder", imbalance_factor=None, pipeline="stream", image_size=8, augment="imagenet", val_split=0.25
    )
    report = training.train(recipe, out, data_dir=tiny_folder(tmp_path / "photos"), verbose=0)
    rows = read_log(out)
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert all(0 <= float(r[key]) <= 100 for r in rows for key in ("val_accuracy", "val_balanced_accuracy"))
    assert report["num_samples"] == 9
    assert hub.from_pretrained(out).keras_lt_config["train_class_counts"] == [6, 4, 3]  # 8, 6, 4 less validation


def test_resume_completes_the_run_exactly(tmp_path, monkeypatch):
    recipe = tiny_recipe(epochs=3)
    straight = str(tmp_path / "straight")
    training.train(recipe, straight, data=tiny_data(), verbose=0)

    out = str(tmp_path / "resumed")
    interrupted_run(monkeypatch, out, recipe)
    assert [int(r["epoch"]) for r in read_log(out)] == [0]
    training.train(recipe, out, data=tiny_data(), resume=True, verbose=0)

    rows = read_log(out)
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]  # every epoch once, one header
    assert not os.path.exists(os.path.join(out, run_directory.BACKUP_DIR))
    assert_same_weights(straight, out)


def test_a_resume_reads_and_checks_the_backup_once(tmp_path, monkeypatch):
    """The log's trim and the restore share one check of the state's checksums (a large state: seconds each)."""
    recipe = tiny_recipe(epochs=3)
    out = str(tmp_path / "run")
    interrupted_run(monkeypatch, out, recipe)
    state = os.path.join(out, run_directory.BACKUP_DIR, "epoch-000001")
    hashed = []
    sha256 = backup_module._sha256
    monkeypatch.setattr(backup_module, "_sha256", lambda path: hashed.append(os.path.relpath(path, state)) or sha256(path))
    training.train(recipe, out, data=tiny_data(), resume=True, verbose=0)
    assert hashed.count(backup_module.WEIGHTS_FILE) == 1


def test_resume_drops_log_rows_the_backup_does_not_hold(tmp_path, monkeypatch):
    """A stop between the CSV row of an epoch and its backup: the resumed log has that epoch once."""
    recipe = tiny_recipe(epochs=3)
    out = str(tmp_path / "run")
    interrupted_run(monkeypatch, out, recipe)
    log_path = os.path.join(out, run_directory.LOG_FILE)
    with open(log_path) as f:
        rows = f.read().splitlines()
    with open(log_path, "a") as f:
        f.write("1" + rows[1][1:] + "\n")  # epoch 1 logged, its backup never written
    training.train(recipe, out, data=tiny_data(), resume=True, verbose=0)
    assert [int(r["epoch"]) for r in read_log(out)] == [0, 1, 2]


def assert_same_weights(first, second):
    expected = load_file(os.path.join(first, hub.WEIGHTS_FILE))
    actual = load_file(os.path.join(second, hub.WEIGHTS_FILE))
    assert sorted(actual) == sorted(expected)
    for key in expected:
        np.testing.assert_array_equal(actual[key], expected[key], err_msg=key)


def straight_and_interrupted(tmp_path, monkeypatch, recipe, target, name, value):
    """Trains `recipe` into straight/, and into resumed/ with `target.name` patched to `value` to stop it there."""
    straight, out = str(tmp_path / "straight"), str(tmp_path / "resumed")
    training.train(recipe, straight, data=tiny_data(), verbose=0)
    with monkeypatch.context() as patch:
        patch.setattr(target, name, value)
        with pytest.raises(KeyboardInterrupt):
            training.train(recipe, out, data=tiny_data(), verbose=0)
    return straight, out


def interrupt(*args, **kwargs):
    raise KeyboardInterrupt


@pytest.mark.parametrize("finetune", [{"method": "crt", "epochs": 3}, {"method": "mislas", "epochs": 3}])
def test_a_run_interrupted_in_stage_2_resumes_there_exactly(tmp_path, monkeypatch, finetune):
    """Stage 1 is not trained again (its checkpoint is kept in stage1/) and stage 2 continues from its backup."""
    recipe = tiny_recipe(finetune=finetune)
    straight, out = straight_and_interrupted(
        tmp_path, monkeypatch, recipe, lt_callbacks, "Backup", interrupting_backup(0, FINETUNE_BACKUP_DIR, base=Backup)
    )
    assert {run_directory.STAGE1_DIR, FINETUNE_BACKUP_DIR} <= set(os.listdir(out))
    assert run_directory.BACKUP_DIR not in os.listdir(out)  # stage 1 is done: its backup is gone
    with pytest.raises(KerasLTError, match="interrupted run; pass --resume"):
        training.train(recipe, out, data=tiny_data(), verbose=0)
    stage1_log = read_log(out)
    training.train(recipe, out, data=tiny_data(), resume=True, verbose=0)
    assert read_log(out) == stage1_log  # stage 1 was not run again
    with open(os.path.join(out, run_directory.FINETUNE_LOG_FILE)) as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == [0, 1, 2]
    assert_same_weights(straight, out)
    leftovers = {run_directory.STAGE1_DIR, FINETUNE_BACKUP_DIR, run_directory.BACKUP_DIR} & set(os.listdir(out))
    assert not leftovers


def test_a_stop_before_the_first_stage_2_backup_restarts_stage_2_with_a_clean_log(tmp_path, monkeypatch):
    recipe = tiny_recipe(finetune={"method": "crt", "epochs": 2})
    backup = interrupting_backup(0, FINETUNE_BACKUP_DIR, before_saving=True, base=Backup)
    straight, out = straight_and_interrupted(tmp_path, monkeypatch, recipe, lt_callbacks, "Backup", backup)
    with open(os.path.join(out, run_directory.FINETUNE_LOG_FILE)) as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == [0]  # logged, never backed up
    stage1_log = read_log(out)
    training.train(recipe, out, data=tiny_data(), resume=True, verbose=0)
    assert read_log(out) == stage1_log
    with open(os.path.join(out, run_directory.FINETUNE_LOG_FILE)) as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == [0, 1]
    assert_same_weights(straight, out)


def test_a_run_stopped_between_the_stages_starts_stage_2_from_the_saved_stage_1(tmp_path, monkeypatch):
    recipe = tiny_recipe(finetune={"method": "crt", "epochs": 2})
    straight, out = straight_and_interrupted(tmp_path, monkeypatch, recipe, training, "_finetune", interrupt)
    assert run_directory.STAGE1_DIR in os.listdir(out)
    training.train(recipe, out, data=tiny_data(), resume=True, verbose=0)
    assert_same_weights(straight, out)


def test_init_from_runs_only_the_stage_2_on_the_given_checkpoint(tmp_path):
    base = str(tmp_path / "base")
    training.train(tiny_recipe(), base, data=tiny_data(), verbose=0)
    crt = {"method": "crt", "epochs": 1, "lr": 0.01}
    out = str(tmp_path / "crt")
    training.train(tiny_recipe(name="tiny-crt", init_from=base, finetune=crt), out, data=tiny_data(), verbose=0)
    assert not os.path.exists(os.path.join(out, run_directory.LOG_FILE))  # no stage-1 training
    assert os.path.isfile(os.path.join(out, run_directory.FINETUNE_LOG_FILE))
    before, after = load_file(os.path.join(base, hub.WEIGHTS_FILE)), load_file(os.path.join(out, hub.WEIGHTS_FILE))
    backbone = [k for k in before if "classifier" not in k]
    assert backbone and all(np.array_equal(before[k], after[k]) for k in backbone)
    assert any(not np.array_equal(before[k], after[k]) for k in before if "classifier" in k)


def test_a_scaled_cosine_classifier_is_published_with_its_loss_scale(tmp_path):
    """LDAM trains on raw cosines; the checkpoint outputs 30 * cos (same ranking, real probabilities)."""
    out = str(tmp_path / "ldam")
    recipe = tiny_recipe(name="tiny-ldam", classifier="cosine", loss="ldam", loss_config={"scale": 30.0})
    training.train(recipe, out, data=tiny_data(), verbose=0)
    model = hub.from_pretrained(out)
    assert model.keras_lt_config["architecture"]["output_scale"] == 30.0
    images = tiny_data().test_images
    features = keras.Model(model.inputs, model.get_layer("pool").output).predict(images, verbose=0)
    kernel = np.asarray(model.get_layer("classifier").kernel)
    cosines = (features / np.linalg.norm(features, axis=1, keepdims=True)) @ (kernel / np.linalg.norm(kernel, axis=0))
    np.testing.assert_allclose(model.predict(images, verbose=0), 30.0 * cosines, rtol=1e-4, atol=1e-4)


def test_a_stage_2_trains_on_the_published_scale_in_the_same_run_as_from_a_checkpoint(tmp_path, monkeypatch):
    """cRT after LDAM: the cosines times 30, whether stage 1 ran just before or is a published checkpoint.

    A whole fine-tune with LDAM again trains the bare cosines (LDAM scales them: never 30 x 30);
    with CE it keeps the checkpoint's 30.
    """
    ldam = dict(classifier="cosine", loss="ldam", loss_config={"scale": 30.0})
    scales = []
    finetune = training._finetune
    monkeypatch.setattr(training, "_finetune", lambda network, *args: scales.append(
        network.get_layer("classifier").scale) or finetune(network, *args))
    crt = {"method": "crt", "epochs": 1}
    training.train(tiny_recipe(name="tiny-ldam-crt", finetune=crt, **ldam), str(tmp_path / "run"), data=tiny_data(),
                   verbose=0)
    base = str(tmp_path / "ldam")
    training.train(tiny_recipe(name="tiny-ldam", **ldam), base, data=tiny_data(), verbose=0)
    training.train(tiny_recipe(name="tiny-crt", init_from=base, finetune=crt, **ldam), str(tmp_path / "crt"),
                   data=tiny_data(), verbose=0)
    assert scales == [30.0, 30.0]
    for loss, scale in (({"loss": "ldam", "loss_config": {"scale": 30.0}}, 1.0), ({"loss": "ce"}, 30.0)):
        recipe = tiny_recipe(name="tiny-whole", init_from=base, classifier="cosine", **loss)
        trainer, _ = training.build_trainer(recipe, tiny_data(), 3)
        assert trainer.network.get_layer("classifier").scale == scale


def test_init_from_refuses_a_checkpoint_of_other_classes(tmp_path):
    base = str(tmp_path / "base")
    training.train(tiny_recipe(), base, data=tiny_data(), verbose=0)
    other = dataclasses.replace(tiny_data(), class_names=["x", "y", "z"])
    recipe = tiny_recipe(name="tiny-crt", init_from=base, finetune={"method": "crt", "epochs": 1})
    with pytest.raises(KerasLTError, match="other classes") as error:
        training.train(recipe, str(tmp_path / "crt"), data=other, verbose=0)
    assert "\n" not in str(error.value)


def test_an_unknown_init_from_fails_before_the_data_is_read_and_anything_is_written(tmp_path):
    with pytest.raises(KerasLTError, match="unknown model 'x'"):  # not: no CIFAR-10 in no-data
        training.train(tiny_recipe(init_from="x"), str(tmp_path / "run"), data_dir=str(tmp_path / "no-data"), verbose=0)
    assert not (tmp_path / "run").exists()


def failing_backup(epoch):
    """A `Backup` class whose fit fails (an error, not a Ctrl-C) at the end of `epoch`, before its backup."""

    class FailingBackup(Backup):
        def on_epoch_end(self, current, logs=None):
            if current == epoch:
                raise RuntimeError("CUDA out of memory")
            super().on_epoch_end(current, logs)

    return FailingBackup


@pytest.mark.parametrize("existing", [False, True])
def test_a_run_failing_before_it_saved_an_epoch_leaves_the_output_as_it_found_it(tmp_path, monkeypatch, existing):
    """Nothing to continue: the same command, with a changed recipe, then starts afresh (no --resume, no refusal)."""
    out = tmp_path / "run"
    if existing:  # the user's empty folder
        out.mkdir()
    recipe = tiny_recipe()
    with monkeypatch.context() as patch:
        patch.setattr(lt_callbacks, "Backup", failing_backup(0))
        with pytest.raises(RuntimeError, match="out of memory"):
            training.train(recipe, str(out), data=tiny_data(), verbose=0)
    assert (os.listdir(out) == []) if existing else not out.exists()
    training.train(dataclasses.replace(recipe, batch_size=4), str(out), data=tiny_data(), verbose=0)
    assert os.path.isfile(out / hub.CONFIG_FILE)


def test_a_run_failing_after_a_saved_epoch_keeps_it_for_resume(tmp_path, monkeypatch):
    out = str(tmp_path / "run")
    recipe = tiny_recipe(epochs=3)
    with monkeypatch.context() as patch:
        patch.setattr(lt_callbacks, "Backup", failing_backup(1))
        with pytest.raises(RuntimeError, match="out of memory"):
            training.train(recipe, out, data=tiny_data(), verbose=0)
    assert run_directory.has_finished_epoch(out) and os.path.isfile(os.path.join(out, "recipe.json"))
    training.train(recipe, out, data=tiny_data(), resume=True, verbose=0)
    assert [int(r["epoch"]) for r in read_log(out)] == [0, 1, 2]


def test_a_stop_after_the_last_epoch_keeps_the_backup_until_the_checkpoint_is_written(tmp_path, monkeypatch):
    recipe = tiny_recipe()
    straight, out = straight_and_interrupted(tmp_path, monkeypatch, recipe, training, "finish", interrupt)
    assert Backup(os.path.join(out, run_directory.BACKUP_DIR)).resume_epoch() == recipe.epochs
    training.train(recipe, out, data=tiny_data(), resume=True, verbose=0)  # no epoch left: the checkpoint
    assert [int(r["epoch"]) for r in read_log(out)] == [0, 1]
    assert_same_weights(straight, out)
    assert not {run_directory.BACKUP_DIR, ".keras-lt.lock"} & set(os.listdir(out))


def test_a_run_in_progress_is_not_joined(tmp_path, monkeypatch):
    """A second run (or a --resume) while the first one is alive is refused, and writes nothing."""
    out = str(tmp_path / "run")
    interrupted_run(monkeypatch, out, tiny_recipe(epochs=3))
    before = snapshot(tmp_path / "run")
    with RunLock(out):
        for resume in (False, True):
            with pytest.raises(KerasLTError, match="in use by another keras-lt run"):
                training.train(tiny_recipe(epochs=3), out, data=tiny_data(), resume=resume, verbose=0)
    assert snapshot(tmp_path / "run") == before


@pytest.mark.parametrize("stage", [run_directory.BACKUP_DIR, FINETUNE_BACKUP_DIR])
def test_a_run_backed_up_by_keras_backup_and_restore_resumes_exactly(tmp_path, monkeypatch, stage):
    """A run that keras-lt wrote before its own backup (`keras.callbacks.BackupAndRestore` with
    `double_checkpoint=True`: latest.weights.h5, training_metadata.json and their .bkp) resumes with
    `Backup`, which reads that layout once and writes its own from the next epoch on."""
    class OldBackup(interrupting_backup(1, stage)):  # stops after epoch 1's backup (epoch 0's in .bkp)
        def __init__(self, directory, keep=False, files=()):  # as training.py built it before Backup
            super().__init__(directory, double_checkpoint=True, delete_checkpoint=not keep)
            self.files = list(files)

        def remove(self):
            shutil.rmtree(self.backup_dir)

    recipe = tiny_recipe(epochs=3, finetune={"method": "crt", "epochs": 3})
    straight, out = str(tmp_path / "straight"), str(tmp_path / "resumed")
    training.train(recipe, straight, data=tiny_data(), verbose=0)
    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        for module in (lt_callbacks, stage2):  # training's backups, and stage 2's check for one
            patch.setattr(module, "Backup", OldBackup)
        training.train(recipe, out, data=tiny_data(), verbose=0)
    assert {"latest.weights.h5", "training_metadata.json", "latest.weights.h5.bkp"} <= set(os.listdir(os.path.join(out, stage)))
    training.train(recipe, out, data=tiny_data(), resume=True, verbose=0)
    assert_same_weights(straight, out)
    assert [int(r["epoch"]) for r in read_log(out)] == [0, 1, 2]


def test_a_diverging_run_stops_in_one_line_and_leaves_nothing(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(KerasLTError) as error:
        training.train(tiny_recipe(lr=1e30), str(out), data=tiny_data(), verbose=0)
    assert str(error.value) == (
        "training diverged (loss nan) in epoch 1: lower the learning rate (--lr, or the recipe's lr), and run again."
    )
    assert not out.exists()  # nothing to resume: the same command, a lower rate given, starts afresh


def test_a_run_diverging_later_keeps_its_last_good_epoch_for_resume(tmp_path):
    """The epoch that diverged is neither logged nor backed up: a resume restores the good epoch before it."""
    out = str(tmp_path / "run")
    recipe = tiny_recipe(epochs=3, milestones=[1], factors=[1e30])  # lr 0.1, then 1e29 from the second epoch
    message = (
        f"training diverged (loss nan) in epoch 2: lower the learning rate (--lr, or the recipe's lr); {out} keeps the "
        "run up to its last good epoch: train into another --output."
    )
    for resume in (False, True):
        with pytest.raises(KerasLTError) as error:
            training.train(recipe, out, data=tiny_data(), resume=resume, verbose=0)
        assert str(error.value) == message
        assert Backup(os.path.join(out, run_directory.BACKUP_DIR)).resume_epoch() == 1
        assert [int(r["epoch"]) for r in read_log(out)] == [0]
        assert all(np.isfinite(float(r["loss"])) for r in read_log(out))


def test_a_rank_that_does_not_see_rank_0s_run_directory_stops_in_one_line(tmp_path, monkeypatch):
    """On several machines without a shared --output, a rank found no backup and trained from epoch 0 apart from rank 0."""
    monkeypatch.setattr(training.distributed, "is_distributed", lambda: True)
    monkeypatch.setattr(training.distributed, "broadcast_object", lambda value: 7)  # rank 0 resumes from epoch 7
    monkeypatch.setattr(training.distributed, "rank", lambda: 1)
    with pytest.raises(KerasLTError) as error:
        training._backup(str(tmp_path / "backup"))
    assert str(error.value) == (
        f"rank 1 finds no backup in {tmp_path / 'backup'}, rank 0 a backup of epoch 7: every machine must see the run "
        "directory rank 0 writes; put --output on a filesystem they all mount."
    )
