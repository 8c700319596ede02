"""`keras_lt.decoupling.decouple_checkpoint`: where it writes comes from the arguments, never from a file."""

import json
import os

import keras_lt
import numpy as np
import pytest
from PIL import Image

from keras_lt import decoupling
from keras_lt import hub
from keras_lt import training_data
from keras_lt.decoupling import decouple_checkpoint
from keras_lt.errors import KerasLTError
from tiny_run import TINY

pytestmark = pytest.mark.usefixtures("tiny_architecture")


@pytest.fixture
def setup(tmp_path, monkeypatch):
    """An image folder, a cache, and a checkpoint in `base/` whose config names it `../../escape`."""
    monkeypatch.setenv("KERAS_LT_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for name in "abc":
            os.makedirs(tmp_path / "data" / split / name)
            for i in range(2):
                Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(tmp_path / "data" / split / name / f"{i}.png")
    network = keras_lt.models.build({"name": TINY, "num_classes": 3})
    keras_lt.save_pretrained(network, tmp_path / "base", class_names=list("abc"), model_name="../../escape")
    return tmp_path


def decoupled(setup, output_dir=None, model=None, overwrite=False, data="data"):
    return decouple_checkpoint(
        model or str(setup / "base"), "tau-norm", output_dir, str(setup / data), "folder", 0, overwrite=overwrite,
        verbose=0,
    )


def test_the_output_is_named_after_the_argument_not_the_config(setup):
    _, output = decoupled(setup)
    assert output == os.path.join(hub.local_checkpoints_dir(), "base-tau-norm")
    with open(os.path.join(output, "config.json")) as f:
        assert json.load(f)["name"] == "base-tau-norm"
    assert sorted(os.listdir(setup)) == ["base", "cache", "data"]  # nothing written beside them
    with pytest.raises(KerasLTError) as error:  # as `train` refuses a finished run
        decoupled(setup)
    assert str(error.value) == (
        f"{output} holds a finished decoupling (its checkpoint base-tau-norm); choose another --output, or pass "
        "--overwrite to decouple it again."
    )
    decoupled(setup, overwrite=True)  # replaces its own checkpoint
    with open(os.path.join(output, "mine.txt"), "w") as f:
        f.write("a user's notes")
    with pytest.raises(KerasLTError) as error:
        decoupled(setup, overwrite=True)
    assert str(error.value) == (
        f"--overwrite replaces a finished decoupling, and {output} also holds other files (mine.txt); move them out "
        "or choose another --output."
    )


def snapshot(directory):
    return {name: open(os.path.join(directory, name), "rb").read() for name in sorted(os.listdir(directory))}


def test_overwrite_keeps_the_finished_decoupling_until_the_new_one_is_written(setup, monkeypatch):
    _, output = decoupled(setup)
    before = snapshot(output)

    def stopped(network, method, images, labels, callbacks, **kwargs):
        callbacks[0].set_model(network)
        callbacks[0].on_train_begin()  # the new log started, as a decoupling stopped midway leaves it
        raise KeyboardInterrupt

    monkeypatch.setattr(decoupling, "decouple", stopped)
    with pytest.raises(KeyboardInterrupt):
        decoupled(setup, overwrite=True)
    assert snapshot(output) == before and sorted(os.listdir(setup / "cache" / "checkpoints")) == ["base-tau-norm"]


def test_an_output_holding_another_checkpoint_a_training_run_or_other_files_is_refused(setup):
    for directory in ("other", "run", "photos", "bert"):
        os.makedirs(setup / directory)
    (setup / "bert" / "config.json").write_text('{"model_type": "bert"}')  # another library's: not read as ours
    keras_lt.save_pretrained(keras_lt.models.build({"name": TINY, "num_classes": 3}), setup / "other")
    (setup / "run" / "recipe.json").write_text("{}")
    (setup / "photos" / "holiday.png").write_bytes(b"not a checkpoint's")
    for directory, message in (("other", "holds another checkpoint"), ("run", "holds a training run"),
                               ("photos", "is not empty: it holds files no keras-lt decoupling writes (holiday.png)"),
                               ("bert", "is not empty: it holds files no keras-lt decoupling writes (config.json)")):
        before = sorted(os.listdir(setup / directory))
        for overwrite in (False, True):
            with pytest.raises(KerasLTError, match=message.replace("(", r"\(").replace(")", r"\)")):
                decoupled(setup, str(setup / directory), overwrite=overwrite)
        assert sorted(os.listdir(setup / directory)) == before


def test_what_a_stopped_decoupling_left_does_not_block_it(setup):
    (setup / "stopped").mkdir()
    (setup / "stopped" / "train_log.csv").write_text("epoch,loss\n")  # stopped before its checkpoint was written
    for name in ("metrics.json", "model.safetensors"):  # or in its save, before config.json (written last)
        (setup / "stopped" / name).write_text("{}")
    _, output = decoupled(setup, str(setup / "stopped"))
    assert keras_lt.from_pretrained(output).keras_lt_config["name"] == "base-tau-norm"


@pytest.mark.parametrize("classes, recipe, message", [
    ("xy", {}, "has 2 classes (x, y), {base} was trained on 3 (a, b, c)"),
    ("def", {}, "has 3 classes (d, e, f), {base} was trained on 3 (a, b, c)"),
    ("abc", {"dataset": "cifar10", "imbalance_factor": 100}, "has 3 classes (a, b, c), {base} was trained on 7 "
                                                             "(a, b, c, d, e and 2 more)"),
], ids=["fewer classes", "other names", "more classes, before the base's long-tail profile"])
def test_data_of_other_classes_than_the_checkpoints_is_one_line(setup, classes, recipe, message):
    data = setup / f"data-{classes}"
    for name in classes:
        os.makedirs(data / "train" / name)
        for i in range(4):
            Image.fromarray(np.full((8, 8, 3), i * 60, np.uint8)).save(data / "train" / name / f"{i}.png")
    names = list("abcdefg")[:7 if recipe else 3]
    base = setup / "other-base"
    keras_lt.save_pretrained(keras_lt.models.build({"name": TINY, "num_classes": len(names)}), base, class_names=names,
                             recipe={"name": "other-base", **recipe})
    with pytest.raises(KerasLTError) as error:
        decouple_checkpoint(str(base), "tau-norm", str(setup / "out"), str(data), verbose=0)
    assert str(error.value) == (
        f"{data} {message.format(base=base)}; decoupling re-balances the checkpoint's own classes: give --data-dir the "
        "data it was trained on."
    )
    assert not (setup / "out").exists()



def test_the_stage_two_recipe_names_its_own_method_not_the_bases_ingredients(setup):
    ingredients = {"method": "erm", "mixer": {"name": "mixup"}, "regularizers": [{"name": "cpmix", "start_epoch": 1}]}
    keras_lt.save_pretrained(
        keras_lt.models.build({"name": TINY, "num_classes": 3}), setup / "mixed", class_names=list("abc"),
        recipe={"name": "mixed", **ingredients},
    )
    _, output = decoupled(setup, model=str(setup / "mixed"))
    with open(os.path.join(output, "config.json")) as f:
        recipe = json.load(f)["recipe"]
    assert (recipe["method"], recipe["mixer"], recipe["regularizers"]) == ("tau-norm", None, [])
    assert {k: recipe["base_recipe"][k] for k in ingredients} == ingredients  # the base's, kept as the base's


def test_a_dataset_of_other_classes_than_the_checkpoints_is_one_line(setup, monkeypatch):
    """Data that is no image folder (a CIFAR archive, tfds) is compared once loaded."""
    labels = np.arange(16) % 4
    images = np.zeros((16, 8, 8, 3), np.uint8)
    monkeypatch.setattr(training_data, "load_dataset", lambda *args, **kwargs: (images, labels, list("wxyz")))
    with pytest.raises(KerasLTError) as error:
        decouple_checkpoint(str(setup / "base"), "tau-norm", str(setup / "out"), "/data", "cifar100", 0, verbose=0)
    base = setup / "base"
    assert str(error.value).startswith(f"/data has 4 classes (w, x, y, z), {base} was trained on 3 (a, b, c);")
    assert not (setup / "out").exists()
