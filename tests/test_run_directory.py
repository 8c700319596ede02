"""`keras_lt.run_directory`: what a run directory's state lets a run do there (no clobbering, no mixing)."""

import dataclasses
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from keras_lt import hub
from keras_lt import run_directory
from keras_lt import training
from keras_lt.errors import KerasLTError
from tiny_run import interrupted_run
from tiny_run import snapshot
from tiny_run import tiny_data
from tiny_run import tiny_folder
from tiny_run import tiny_recipe

pytestmark = pytest.mark.usefixtures("tiny_architecture")


def test_refuses_to_overwrite_an_interrupted_run(tmp_path, monkeypatch):
    out = str(tmp_path / "run")
    recipe = tiny_recipe(epochs=3)
    interrupted_run(monkeypatch, out, recipe)
    with pytest.raises(KerasLTError, match="interrupted run; pass --resume") as error:
        training.train(recipe, out, data=tiny_data(), verbose=0)
    assert "\n" not in str(error.value)
    with pytest.raises(KerasLTError, match=r"different recipe.*\(lr\)") as error:
        training.train(dataclasses.replace(recipe, lr=0.2), out, data=tiny_data(), resume=True, verbose=0)
    assert "\n" not in str(error.value)


def test_resume_without_backup_is_refused(tmp_path):
    with pytest.raises(KerasLTError, match="nothing to resume"):
        training.train(tiny_recipe(), str(tmp_path / "empty"), data=tiny_data(), resume=True, verbose=0)


@pytest.mark.parametrize("resume", [False, True])
def test_a_finished_run_is_never_trained_into(tmp_path, resume):
    out = tmp_path / "run"
    training.train(tiny_recipe(), str(out), data=tiny_data(), verbose=0)
    before = snapshot(out)
    for recipe in (tiny_recipe(), tiny_recipe(seed=1)):
        message = "nothing to resume" if resume else "holds a finished run"
        with pytest.raises(KerasLTError, match=message) as error:
            training.train(recipe, str(out), data=tiny_data(), resume=resume, verbose=0)
        assert "\n" not in str(error.value)
    with pytest.raises(KerasLTError, match="holds a finished run"):  # refused before the data is even read
        training.train(tiny_recipe(seed=1), str(out), data_dir=str(tmp_path / "no-data"), verbose=0)
    assert snapshot(out) == before


def test_a_new_run_refuses_a_folder_of_other_files_before_writing(tmp_path):
    """A data folder (or any folder of the user's) given as the output: refused, untouched, before the data is read."""
    data = tiny_folder(tmp_path / "photos")
    user_model = tmp_path / "model"  # another library's checkpoint: its config.json and README.md are not ours
    user_model.mkdir()
    (user_model / hub.CONFIG_FILE).write_text('{"model_type": "bert"}')
    (user_model / hub.CARD_FILE).write_text("my model")
    for out, names in ((data, "test, train"), (user_model, "README.md, config.json")):
        before = snapshot(Path(out))
        with pytest.raises(KerasLTError) as error:
            training.train(tiny_recipe(), str(out), data_dir=str(tmp_path / "no-data"), verbose=0)
        assert str(error.value) == (
            f"{out} is not empty: it holds files no keras-lt run writes ({names}); choose a new or empty --output."
        )
        assert snapshot(Path(out)) == before
    assert not run_directory.is_finished(user_model) and run_directory.foreign_entries(tmp_path / "absent") == []


FOLDER_RECIPE = tiny_recipe(dataset="folder", imbalance_factor=None, image_size=8, epochs=3)


def replace_image(root, seed):
    """Replaces one training image of `root` by another (a different size), its name kept."""
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(
        root / "train" / "c1" / "0.png"
    )
    return root


def rename_class(root):
    """Renames class c2 of `root` to d2."""
    for split in ("train", "test"):
        os.rename(root / split / "c2", root / split / "d2")
    return root


def test_resume_refuses_other_training_data_in_one_line(tmp_path, monkeypatch):
    photos = Path(tiny_folder(tmp_path / "photos"))
    out = str(tmp_path / "run")
    interrupted_run(monkeypatch, out, FOLDER_RECIPE, data_dir=str(photos))
    before = snapshot(tmp_path / "run")
    others = {
        "the run's data has 3 classes, this data 4": tiny_folder(tmp_path / "four", counts=(8, 6, 4, 4)),
        "the run's data has 4 training images of class 'c2', this data 5": tiny_folder(
            tmp_path / "more", counts=(8, 6, 5)
        ),
        "the run's class 2 is 'c2', this data's 'd2'": rename_class(Path(shutil.copytree(photos, tmp_path / "d2"))),
        "the names or sizes of the training image files differ": replace_image(
            Path(shutil.copytree(photos, tmp_path / "changed")), seed=1
        ),
    }
    for difference, other in others.items():
        with pytest.raises(KerasLTError) as error:
            training.train(FOLDER_RECIPE, out, data_dir=str(other), resume=True, verbose=0)
        assert str(error.value) == (
            f"--resume with other training data than the interrupted run in {out} ({difference}); resume with the "
            "data it started on, or choose another --output."
        )
        assert snapshot(tmp_path / "run") == before
    moved = shutil.copytree(photos, tmp_path / "elsewhere")  # the same data at another path (another machine)
    training.train(FOLDER_RECIPE, out, data_dir=str(moved), resume=True, verbose=0)
    assert run_directory.is_finished(out)


def test_a_run_started_without_a_data_record_resumes_and_gets_one(tmp_path, monkeypatch):
    """Runs interrupted before keras-lt recorded their data (the campaign's, a GPU machine's) resume as before."""
    photos = tiny_folder(tmp_path / "photos")
    out = tmp_path / "run"
    interrupted_run(monkeypatch, str(out), FOLDER_RECIPE, data_dir=photos)
    recorded = json.loads((out / run_directory.DATA_FILE).read_text())
    assert recorded == {"class_names": ["c0", "c1", "c2"], "train_class_counts": [8, 6, 4],
                        "train_files": recorded["train_files"]}
    (out / run_directory.DATA_FILE).unlink()
    four = tiny_folder(tmp_path / "four", counts=(8, 6, 4, 4))  # unchecked, but its model does not fit the backup
    with pytest.raises(KerasLTError, match="does not fit this model"):
        training.train(FOLDER_RECIPE, str(out), data_dir=four, resume=True, verbose=0)
    assert not (out / run_directory.DATA_FILE).exists()  # not recorded as the run's data
    with monkeypatch.context() as patch:  # stopped again once the resumed run has prepared its directory
        patch.setattr(training, "_train_stage1", interrupt)
        with pytest.raises(KeyboardInterrupt):
            training.train(FOLDER_RECIPE, str(out), data_dir=photos, resume=True, verbose=0)
    assert json.loads((out / run_directory.DATA_FILE).read_text()) == recorded
    training.train(FOLDER_RECIPE, str(out), data_dir=photos, resume=True, verbose=0)
    assert run_directory.is_finished(out) and not (out / run_directory.DATA_FILE).exists()


def interrupt(*args, **kwargs):
    raise KeyboardInterrupt


def test_the_data_identity_takes_file_names_that_are_not_utf8(tmp_path):
    """A Latin-1 `caf\\xe9.png` in a class folder: its name's bytes go into the digest, as they are on disk."""
    from keras_lt.training_data import prepare_data

    folder = tiny_folder(tmp_path / "photos")
    recipe = tiny_recipe(dataset="folder", imbalance_factor=None)
    before = run_directory.data_identity(prepare_data(recipe, folder), "folder", folder)
    shutil.copy(os.path.join(folder, "train", "c0", "0.png"), os.fsdecode(os.fsencode(folder) + b"/train/c0/caf\xe9.png"))
    after = run_directory.data_identity(prepare_data(recipe, folder), "folder", folder)
    assert after["train_class_counts"][0] == before["train_class_counts"][0] + 1
    assert after["train_files"] != before["train_files"]


@pytest.mark.parametrize("record", [{}, {"class_names": ["c0"]}, {"class_names": None, "train_class_counts": [1]}])
def test_a_data_record_without_its_classes_is_one_line(tmp_path, record):
    (tmp_path / run_directory.DATA_FILE).write_text(json.dumps(record))
    identity = {"class_names": ["c0", "c1"], "train_class_counts": [4, 2]}
    with pytest.raises(KerasLTError) as error:
        run_directory.check_resumed_data(str(tmp_path), identity)
    assert str(error.value) == (
        f"cannot resume {tmp_path}: its {run_directory.DATA_FILE} lacks the class names or counts; choose another "
        "--output."
    )


def test_the_data_identity_digests_train_only_where_the_data_was_read_from_it(tmp_path):
    """A CIFAR archive beside an unrelated train/ folder: the run read the archive, so no digest of train/."""
    from keras_lt.training_data import TrainingData

    folder = tiny_folder(tmp_path / "data")
    labels = np.array([0, 1, 1])
    data = TrainingData(np.zeros((3, 8, 8, 3), np.uint8), labels, np.zeros((3, 8, 8, 3), np.uint8), labels,
                        ["c0", "c1"])
    assert "train_files" in run_directory.data_identity(data, "cifar10", folder)
    os.makedirs(os.path.join(folder, "cifar-10-batches-py"))
    assert run_directory.data_identity(data, "cifar10", folder) == {
        "class_names": ["c0", "c1"], "train_class_counts": [1, 2],
    }
