"""Recipes: every zoo recipe loads and builds; short30 scaling; one-line errors for bad input."""

import json

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import numpy as np
import pytest

from keras_lt import callbacks as lt_callbacks
from keras_lt import losses
from keras_lt.errors import KerasLTError
from keras_lt.recipes import CLOSE_ZOO_NAMES
from keras_lt.recipes import Recipe
from keras_lt.recipes import load_recipe
from keras_lt.recipes import zoo_names
from keras_lt.recipes import zoo_root
from keras_lt.trainers import SGD
from keras_lt.trainers import WarmupMultiStep
from keras_lt.training import build_trainer
from keras_lt.training_data import TrainingData

NUM_CLASSES = {"cifar10": 10, "cifar100": 100}
ZOO = [name for name in zoo_names() if load_recipe(name).pipeline == "memory"]  # streamed: tests/test_large_recipes.py


def test_the_zoo_has_recipes():
    assert "ce-resnet32-cifar10lt" in ZOO
    for name in zoo_names():
        with open(f"{zoo_root()}/{name}/recipe.json") as f:
            assert json.load(f)["name"] == name


def fake_data(num_classes):
    """Two 8x8 images per class: enough for the loss's class counts and the normalisation."""
    labels = np.repeat(np.arange(num_classes), 2)
    images = np.random.default_rng(0).integers(0, 256, size=(len(labels), 8, 8, 3)).astype("uint8")
    return TrainingData(images, labels, images, labels, [str(c) for c in range(num_classes)])


@pytest.mark.parametrize("name", ZOO)
def test_zoo_recipe_builds(name):
    recipe = load_recipe(name)
    assert isinstance(recipe, Recipe) and recipe.name == name and recipe.schedule == "full"
    assert len(recipe.milestones) == len(recipe.factors)
    data = fake_data(NUM_CLASSES[recipe.dataset])
    trainer, callbacks = build_trainer(recipe, data, steps_per_epoch=7)

    architecture = trainer.network.keras_lt_config["architecture"]
    assert architecture["name"] == recipe.architecture and architecture["num_classes"] == data.num_classes
    assert architecture["classifier"] == recipe.classifier
    assert trainer.network.output_shape == (None, data.num_classes)
    loss_class = type(losses.get(recipe.loss, data.class_counts, **recipe.loss_config))
    assert isinstance(trainer.loss, loss_class)

    optimizer = trainer.optimizer
    assert isinstance(optimizer, SGD)
    assert optimizer.momentum == recipe.momentum and optimizer.coupled_weight_decay == recipe.weight_decay
    schedule = optimizer._learning_rate
    assert isinstance(schedule, WarmupMultiStep)
    assert schedule.get_config() == {
        "base_lr": recipe.lr, "steps_per_epoch": 7, "warmup_epochs": recipe.warmup_epochs,
        "milestones": recipe.milestones, "factors": recipe.factors,
    }

    assert isinstance(callbacks[0], lt_callbacks.EpochLog)
    switches = {type(c).__name__: getattr(c, "start_epoch", None) for c in callbacks[1:]}
    expected = {}
    if recipe.drw_epoch is not None:
        expected["DeferredReweighting"] = recipe.drw_epoch
    if recipe.ga_epoch is not None:
        expected["GradientAdjustment"] = recipe.ga_epoch
    if recipe.cpmix_epoch is not None:
        expected["CPMixStage"] = recipe.cpmix_epoch
    for callback in trainer.epoch_callbacks():  # the trainer's own (CMO's window, ...)
        expected[type(callback).__name__] = getattr(callback, "start_epoch", None)
    if recipe.method == "cmo":
        assert expected["CMOWindow"] == recipe.method_config["window"][0]
    assert switches == expected


@pytest.mark.parametrize("name", ZOO)
def test_short30(name):
    full = load_recipe(name)
    short = full.scaled("short30")
    assert (short.epochs, short.batch_size, short.lr, short.weight_decay) == (30, 128, 0.1, 2e-4)
    assert (short.warmup_epochs, short.milestones, short.factors) == (2, [24, 27], [0.1, 0.01])
    assert short.schedule == "short30"
    assert (short.loss, short.loss_config, short.seed) == (full.loss, full.loss_config, full.seed)
    assert full.scaled("full") == full


def test_short30_scales_the_switches():
    short = Recipe(name="x", epochs=200, drw_epoch=160, ga_epoch=120).scaled("short30")
    assert (short.drw_epoch, short.ga_epoch) == (24, 18)
    assert Recipe(name="x", epochs=200).scaled("short30").drw_epoch is None
    assert load_recipe("ldam-drw-resnet32-cifar10lt").scaled("short30").drw_epoch == 24


def test_recipe_file_by_path(tmp_path):
    path = tmp_path / "mine.json"
    fields = {"name": "mine", "dataset": "folder", "imbalance_factor": None, "epochs": 3}
    path.write_text(json.dumps(fields))
    recipe = load_recipe(str(path))
    assert {k: getattr(recipe, k) for k in fields} == fields
    assert Recipe(**json.loads(json.dumps(recipe.to_dict()))) == recipe


def one_line(error):
    assert "\n" not in str(error.value)
    return str(error.value)


def test_an_unknown_recipe_offers_the_close_zoo_names_not_all_of_them():
    with pytest.raises(KerasLTError) as error:
        load_recipe("ce-resnet32-cifar10-lt")
    message = one_line(error)
    assert message.startswith("unknown recipe 'ce-resnet32-cifar10-lt' (did you mean 'ce-resnet32-cifar10lt' or ")
    assert 1 < sum(f"'{name}'" in message for name in zoo_names()) <= CLOSE_ZOO_NAMES
    assert message.endswith("give a zoo recipe name or a recipe JSON file (keras-lt list shows every zoo name).")
    with pytest.raises(KerasLTError) as error:
        load_recipe("no-such-recipe")
    assert one_line(error).startswith("unknown recipe 'no-such-recipe'; give a zoo recipe name")


@pytest.mark.parametrize("name", ["../ce-resnet32-cifar10lt", "results/../ce-resnet32-cifar10lt", "my-recipe.json"])
def test_a_path_is_not_looked_up_in_the_zoo(name, tmp_path, monkeypatch):
    """A name is looked up in the zoo only as a name: "../x" does not reach a recipe outside it, and a
    missing file is said to be missing, not an unknown zoo recipe."""
    monkeypatch.chdir(tmp_path)  # where no such file exists
    with pytest.raises(KerasLTError) as error:
        load_recipe(name)
    assert one_line(error).startswith(f"no recipe file {name};")


def test_unknown_schedule():
    with pytest.raises(KerasLTError) as error:
        load_recipe("ce-resnet32-cifar10lt").scaled("short10")
    assert "short10" in one_line(error) and "short30" in str(error.value)


def test_unknown_field(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"name": "bad", "epoch": 3, "lr_step": 0.1}))
    with pytest.raises(KerasLTError) as error:
        load_recipe(str(path))
    assert "epoch, lr_step" in one_line(error)


@pytest.mark.parametrize(
    "text, expected",
    [("{not json", "cannot read recipe"), ('["name"]', '"name" field'), ('{"epochs": 3}', '"name" field')],
)
def test_unreadable_recipe_file(tmp_path, text, expected):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(KerasLTError) as error:
        load_recipe(str(path))
    assert expected in one_line(error)


def test_short30_method_and_finetune_overrides():
    cmo = Recipe(name="x", method="cmo", method_config={"window": [4, 196], "alpha": 1.0}).scaled("short30")
    assert cmo.method_config == {"window": [1, 27], "alpha": 1.0}  # CMO's window: epochs 1..27
    mixer = Recipe(name="x", mixer={"name": "cmo", "window": [4, 196]}).scaled("short30")
    assert mixer.mixer == {"name": "cmo", "window": [1, 27]} and mixer.method_config == {}  # a CMO mixer's too
    afr = Recipe(name="x", finetune={"method": "afr", "epochs": 50, "regenerate_every": 10, "lr": 0.01})
    assert afr.scaled("short30").finetune == {"method": "afr", "epochs": 10, "regenerate_every": 2, "lr": 0.01}
    assert afr.finetune["epochs"] == 50  # the full recipe is left alone
    crt = Recipe(name="x", finetune={"method": "crt", "epochs": 10}).scaled("short30")
    assert crt.finetune == {"method": "crt", "epochs": 3}


def test_every_ingredient_a_recipe_names_is_built_by_the_trainers():
    from keras_lt.presets import INGREDIENTS
    from keras_lt.trainers import MIXERS
    from keras_lt.trainers import REGULARIZERS

    assert INGREDIENTS == {**{name: "mixer" for name in MIXERS}, **{name: "regularizer" for name in REGULARIZERS}}


@pytest.mark.parametrize(
    "method, config, expected",
    [
        ("erm", {}, {"mixer": None, "regularizers": [], "loss_weight": 1.0}),
        ("mixup", {"alpha": 0.2}, {"mixer": {"name": "mixup", "alpha": 0.2}, "regularizers": [], "loss_weight": 1.0}),
        ("cmo", {"window": [1, 2]}, {"mixer": {"name": "cmo", "window": [1, 2]}, "regularizers": [], "loss_weight": 1.0}),
        ("cpmix", {"eta": 0.5}, {"mixer": None, "regularizers": [{"name": "cpmix", "eta": 0.5, "start_epoch": 7}], "loss_weight": 1.0}),
        (
            "lcreg",
            {"latent_categories": 8, "recon_weight": 0.2, "aug_weight": 0.3, "cls_weight": 0.9, "lam0": 0.4, "alpha": 0.5},
            {
                "mixer": {"name": "mixup", "alpha": 0.5},
                "regularizers": [
                    {"name": "latent_reconstruction", "latent_categories": 8, "weight": 0.2},
                    {"name": "latent_isda", "lam0": 0.4, "weight": 0.3},
                ],
                "loss_weight": 0.9,
            },
        ),
    ],
)
def test_a_method_is_a_preset_of_ingredients(method, config, expected):
    recipe = Recipe(name="x", method=method, method_config=config, cpmix_epoch=7 if method == "cpmix" else None)
    assert recipe.ingredients() == expected


def test_ingredient_switches_scale_with_the_schedule():
    recipe = Recipe(
        name="x", epochs=300, mixer={"name": "cmo", "window": [4, 296]},
        regularizers=[{"name": "cpmix", "start_epoch": 200}],
    )
    short = recipe.scaled("short30")
    assert (short.mixer["window"], short.regularizers[0]["start_epoch"]) == ([1, 27], 20)
    scaled, changes = recipe.with_epochs(3)
    assert (scaled.mixer["window"], scaled.regularizers[0]["start_epoch"]) == ([1, 2], 2)
    assert "regularizers: [{'start_epoch': 200}] -> [{'start_epoch': 2}]" in changes
    assert recipe.regularizers[0]["start_epoch"] == 200  # the recipe itself is left as it was
