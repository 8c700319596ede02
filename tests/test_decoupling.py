"""`keras_lt.decoupling.decouple_checkpoint`: where it writes comes from the arguments, never from a file."""

import json
import os

import keras_lt
import numpy as np
import pytest
from PIL import Image

from keras_lt import hub
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


def decoupled(setup, output_dir=None, model=None):
    return decouple_checkpoint(
        model or str(setup / "base"), "tau-norm", output_dir, str(setup / "data"), "folder", 0, verbose=0
    )


def test_the_output_is_named_after_the_argument_not_the_config(setup):
    _, output = decoupled(setup)
    assert output == os.path.join(hub.local_checkpoints_dir(), "base-tau-norm")
    with open(os.path.join(output, "config.json")) as f:
        assert json.load(f)["name"] == "base-tau-norm"
    assert sorted(os.listdir(setup)) == ["base", "cache", "data"]  # nothing written beside them
    decoupled(setup)  # the same decoupling again replaces its own checkpoint


def test_an_output_holding_another_checkpoint_or_a_training_run_is_refused(setup):
    for directory in ("other", "run"):
        os.makedirs(setup / directory)
    keras_lt.save_pretrained(keras_lt.models.build({"name": TINY, "num_classes": 3}), setup / "other")
    (setup / "run" / "recipe.json").write_text("{}")
    for directory, message in (("other", "holds another checkpoint"), ("run", "holds a training run")):
        before = sorted(os.listdir(setup / directory))
        with pytest.raises(KerasLTError, match=message):
            decoupled(setup, str(setup / directory))
        assert sorted(os.listdir(setup / directory)) == before


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
