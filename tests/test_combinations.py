"""Methods combined as ingredients: the zoo's combination recipes run end to end, resume exactly, and bad ones fail at load."""

import csv
import json
import os

import keras
import numpy as np
import pytest

import pins
from keras_lt import hub
from keras_lt import run_directory
from keras_lt import training
from keras_lt.errors import KerasLTError
from keras_lt.recipes import Recipe
from keras_lt.recipes import load_recipe
from keras_lt.trainers import CMO
from keras_lt.trainers import ConfusionPairMixing
from keras_lt.trainers import LatentISDA
from keras_lt.trainers import LatentReconstruction
from keras_lt.trainers import Mixup
from keras_lt.trainers import trainer_ingredients

pytestmark = pytest.mark.usefixtures("tiny_architecture")
COMBINATIONS = {
    "cpmix-kps-resnet32-cifar10lt": (None, [ConfusionPairMixing]),
    "cmo-lcreg-resnet32-cifar10lt": (CMO, [LatentReconstruction, LatentISDA]),
    "cpmix-lcreg-mislas-resnet32-cifar10lt": (None, [LatentReconstruction, LatentISDA, ConfusionPairMixing]),
}


def log(output_dir, name=run_directory.LOG_FILE):
    with open(os.path.join(output_dir, name)) as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("name", sorted(COMBINATIONS))
def test_a_combination_recipe_names_its_ingredients(name):
    mixer, regularizers = COMBINATIONS[name]
    built = trainer_ingredients(load_recipe(name))
    assert type(built["mixer"]) is mixer or built["mixer"] is mixer is None
    assert [type(r) for r in built["regularizers"]] == regularizers
    assert name in hub.list_models() and hub.model_info(name)["status"] == "not published"  # a recipe, no weights


@pytest.mark.parametrize("name", sorted(COMBINATIONS))
def test_a_combination_runs_end_to_end_and_resumes_exactly(tmp_path, monkeypatch, name):
    recipe = pins.tiny_zoo_recipe(name, f"tiny-{name}")
    straight = str(tmp_path / "straight")
    pinned = pins.train_straight(recipe, straight)
    assert pins.train_interrupted(recipe, str(tmp_path / "resumed"), monkeypatch) == pinned
    rows = log(straight)
    assert all(np.isfinite(float(r["loss"])) for r in rows)
    if any(spec["name"] == "cpmix" for spec in recipe.regularizers):
        assert [float(r["cpmix"]) for r in rows] == [0.0, 0.0, 1.0]  # start_epoch 200 of 300 -> 2 of 3
        with open(os.path.join(straight, "training_confusion.json")) as f:
            assert np.sum(json.load(f)["matrix"]) == float(rows[-1]["confusions"])
    if any(spec["name"] == "latent_isda" for spec in recipe.regularizers):
        assert all(float(r["isda_lambda"]) > 0 and np.isfinite(float(r["recon_loss"])) for r in rows)
        assert hub.read_config(straight)["architecture"]["latent_categories"] == 40
    if recipe.mixer is not None:
        assert [float(r["cmo"]) for r in rows] == [0.0, 1.0, 1.0]  # window [4, 196] of 200 -> [1, 2] of 3
    if recipe.finetune is not None:
        assert len(log(straight, run_directory.FINETUNE_LOG_FILE)) == pins.STAGE2_EPOCHS
    if recipe.classifier == "cosine":  # KPS on a cosine classifier: published with its scale
        assert hub.read_config(straight)["architecture"]["output_scale"] == recipe.loss_config["scale"]
    model = hub.from_pretrained(straight)
    assert model.predict(pins.pin_data().test_images, verbose=0).shape == (9, 3)


@pytest.mark.parametrize("epochs, window", [(200, (4, 196)), (20, (4, 16)), (8, (4, 4))])
def test_a_cmo_mixer_without_a_window_mixes_in_the_official_epochs_of_the_recipes_length(epochs, window):
    """naver-ai/cmo mixes when `3 < epoch < epochs - 3` (0-based), whatever the length: not 4..196 in 20 epochs."""
    recipe = Recipe(name="x", mixer={"name": "cmo"}, epochs=epochs, milestones=[], factors=[], warmup_epochs=0)
    assert trainer_ingredients(recipe)["mixer"].window == window
    scaled, _ = Recipe(name="x", mixer={"name": "cmo"}).with_epochs(epochs)
    assert trainer_ingredients(scaled)["mixer"].window == window


def write(tmp_path, **fields):
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps({"name": "mine", **fields}))
    return str(path)


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"method": "mixup", "mixer": {"name": "cmo"}}, "two batch mixers \\(mixup of method mixup, and cmo\\)"),
        ({"regularizers": [{"name": "latent_isda"}]}, "latent_isda needs latent_reconstruction before it"),
        ({"method": "cpmix", "cpmix_epoch": 10, "regularizers": [{"name": "cpmix"}]}, "cpmix is named twice"),
        ({"method": "cpmix"}, "CP-Mix needs cpmix_epoch, the first epoch of its mixup terms \\(METHODS.md: 2/3 of the "
                              "epochs, 133 of 200\\); without it they never start"),
        ({"regularizers": [{"name": "cpmix"}], "epochs": 30, "milestones": [], "factors": []},
         "CP-Mix needs the cpmix regularizer's start_epoch, .* 20 of 30"),
        ({"mixer": {"name": "cmo"}, "epochs": 7, "milestones": [], "factors": [], "warmup_epochs": 0},
         "CMO's default window, the official 3 < epoch < epochs - 3, holds none of 7 epochs"),
        ({"mixer": {"name": "mixupp"}}, "unknown mixer 'mixupp' \\(did you mean 'mixup'\\?\\)"),
        ({"regularizers": [{"name": "cmo"}]}, "unknown regularizer 'cmo'"),
        ({"regularizers": ["cpmix"]}, "unknown regularizer None"),
        ({"method": "lcreg", "method_config": {"latent_categories": 4, "gamma": 1}}, "bad method_config for lcreg \\(unknown gamma\\)"),
        ({"cpmix_epoch": 10}, "cpmix_epoch switches the cpmix method"),
        ({"method": "cpmixx"}, "unknown method 'cpmixx'"),
        ({"mixer": {"name": "cmo", "window": 10}}, "cmo's window must be \\[first_epoch, last_epoch\\], not 10"),
        ({"regularizers": [{"name": "cpmix", "start_epoch": "5"}]}, "cpmix's start_epoch must be an epoch number or null, not \"5\""),
        ({"finetune": "lws"}, "finetune must be an object or null, not \"lws\""),
        ({"regularizers": {"name": "cpmix"}}, "regularizers must be a list, not"),
        ({"epochs": 3.0}, "epochs must be a whole number, not 3.0"),
        ({"regularisers": []}, "unknown fields: regularisers \\(did you mean 'regularizers'\\?\\)"),
    ],
)
def test_an_invalid_combination_fails_at_load_in_one_line(tmp_path, fields, message):
    """Also fields and epoch switches of the wrong JSON type: each one line, not a traceback when scaled or run."""
    with pytest.raises(KerasLTError, match=message) as error:
        load_recipe(write(tmp_path, **fields))
    assert "\n" not in str(error.value)


def test_bad_ingredient_settings_fail_before_anything_is_written(tmp_path):
    recipe = load_recipe(write(tmp_path, mixer={"name": "mixup", "alpha": -1.0}, architecture=pins.TINY))
    out = tmp_path / "run"
    with pytest.raises(KerasLTError, match="bad settings for mixup \\(alpha must be > 0") as error:
        training.train(recipe, str(out), data=pins.pin_data(), verbose=0)
    assert "\n" not in str(error.value) and not out.exists()


def test_a_python_recipe_combines_the_same_way(tmp_path):
    """A recipe made in Python: Mixup with CP-Mix (two ingredients no method combines), trained."""
    recipe = pins.tiny_zoo_recipe(
        "ce-resnet32-cifar10lt", "tiny-mixup-cpmix", mixer=Mixup(alpha=0.4).spec(),
        regularizers=[ConfusionPairMixing(start_epoch=1).spec()],
    )
    assert recipe.ingredients()["mixer"] == {"name": "mixup", "alpha": 0.4, "lam_per_sample": False, "seed": None}
    training.train(recipe, str(tmp_path / "run"), data=pins.pin_data(), verbose=0)
    assert [float(r["cpmix"]) for r in log(str(tmp_path / "run"))] == [0.0, 1.0, 1.0]
    assert keras.ops.convert_to_numpy(hub.from_pretrained(str(tmp_path / "run")).weights[0]).any()
