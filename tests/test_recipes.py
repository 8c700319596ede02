"""Recipes: every zoo recipe loads and builds; short30 scaling; one-line errors for bad input."""

import json

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import numpy as np
import pytest

from keras_lt import callbacks as lt_callbacks
from keras_lt import losses
from keras_lt.errors import KerasLTError
from keras_lt.recipes import CLOSE_ZOO_NAMES
from keras_lt.recipes import RANGES
from keras_lt.recipes import Recipe
from keras_lt.recipes import check_numbers
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
    fields = {"name": "mine", "dataset": "folder", "imbalance_factor": None, "epochs": 3, "warmup_epochs": 1,
              "milestones": [2], "factors": [0.1]}
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


def test_a_recipe_file_that_is_not_utf8_is_one_line(tmp_path):
    path = tmp_path / "bad.json"
    path.write_bytes(b"\xff\xfe{bad")
    with pytest.raises(KerasLTError) as error:
        load_recipe(str(path))
    assert one_line(error).startswith(f"cannot read recipe {path}: 'utf-8' codec can't decode byte 0xff")
    assert str(error.value).endswith("; a recipe is a JSON file in UTF-8.")


@pytest.mark.parametrize("fields, message", [
    ({"lr": -1}, "lr must be a number > 0, not -1."),
    ({"lr": float("inf")}, "lr must be a number > 0, not inf."),
    ({"lr": float("nan")}, "lr must be a number > 0, not nan."),
    ({"lr": "0.1"}, "lr must be a number > 0, not '0.1'."),
    ({"lr": True}, "lr must be a number > 0, not True."),
    ({"epochs": 0}, "epochs must be a whole number >= 1, not 0."),
    ({"epochs": 2.5}, "epochs must be a whole number >= 1, not 2.5."),
    ({"batch_size": 0}, "batch_size must be a whole number >= 1, not 0."),
    ({"momentum": 5}, "momentum must be a number in [0, 1), not 5."),
    ({"weight_decay": -1}, "weight_decay must be a number >= 0, not -1."),
    ({"factors": [0.1, 0]}, "factors[1] must be a number > 0, not 0."),
    ({"milestones": [160, 300]}, "milestones[1] must be a whole number in 0..200, not 300."),
    ({"milestones": [180, 160]}, "milestones [180, 160] must be in increasing order."),
    ({"warmup_epochs": 50, "epochs": 1, "milestones": [1, 1]}, "warmup_epochs must be a whole number in 0..1, not 50."),
    ({"epochs": 3, "warmup_epochs": 0}, "milestones[0] must be a whole number in 0..3, not 160 (the default, meant for "
                                         "200 epochs: give the recipe milestones for 3)."),
    ({"epochs": 3, "milestones": []}, "warmup_epochs must be a whole number in 0..3, not 5 (the default, meant for 200 "
                                      "epochs: give the recipe warmup_epochs for 3)."),
    ({"drw_epoch": 200, "loss": "ldam"}, "drw_epoch must be a whole number in 0..199, not 200."),
    ({"image_size": [16]}, "image_size must be [height, width] or one side, not [16]."),
    ({"image_size": [16, 16, 3]}, "image_size must be [height, width] or one side, not [16, 16, 3]."),
    ({"image_size": [16, 4]}, "image_size[1] must be a whole number in 5..1024, not 4."),
    ({"image_size": 2000}, "image_size must be a whole number in 5..1024, not 2000."),
    ({"seed": -5}, "seed must be a whole number in 0..4294967295, not -5."),
    ({"selection_seed": 2**32}, "selection_seed must be a whole number in 0..4294967295, not 4294967296."),
    ({"imbalance_factor": 0.5}, "imbalance_factor must be 0 (the data's own counts) or a number >= 1, not 0.5."),
    ({"val_split": 1}, "val_split must be a number in (0, 1), not 1."),
    ({"finetune": {"method": "crt", "epochs": 0}}, "finetune.epochs must be a whole number >= 1, not 0."),
    ({"loss": "focal", "loss_config": {"gamma": float("nan")}}, "loss_config.gamma must be a finite number, not nan."),
    ({"mixer": {"name": "mixup", "alpha": float("inf")}}, "mixer.alpha must be a finite number, not inf."),
])
def test_a_number_out_of_its_range_is_one_line_naming_it(fields, message):
    with pytest.raises(KerasLTError) as error:
        check_numbers(Recipe(name="numbers", **fields))
    assert one_line(error) == f"recipe numbers: {message}"


@pytest.mark.parametrize("text, message", [
    ('"lr": -1', "lr must be a number > 0, not -1."),
    ('"lr": 1e309', "lr must be a number > 0, not inf."),
    ('"lr": NaN', "lr must be a number > 0, not nan."),
    ('"epochs": 0', "epochs must be a whole number >= 1, not 0."),
    ('"seed": -5', "seed must be a whole number in 0..4294967295, not -5."),
    (f'"epochs": 1{"0" * 400}', "epochs must be a whole number >= 1, not an integer of 401 digits."),
    (f'"loss": "focal", "loss_config": {{"gamma": 1{"0" * 400}}}',
     "loss_config.gamma must be a finite number, not an integer of 401 digits."),
])
def test_a_recipe_file_is_refused_as_it_loads_before_a_schedule_scales_its_numbers(tmp_path, text, message):
    path = tmp_path / "numbers.json"
    path.write_text(f'{{"name": "numbers", {text}}}')
    with pytest.raises(KerasLTError) as error:
        load_recipe(str(path))
    assert one_line(error) == f"recipe numbers: {message}"


@pytest.mark.parametrize("fields", [
    {"imbalance_factor": None}, {"imbalance_factor": 0}, {"imbalance_factor": 1}, {"image_size": 5},
    {"image_size": [1024, 5]}, {"seed": 2**32 - 1}, {"momentum": 0}, {"weight_decay": 0}, {"val_split": 0.5},
    {"warmup_epochs": 200, "milestones": [200, 200]}, {"drw_epoch": 0, "loss": "ldam"},
])
def test_the_ends_of_the_ranges_are_accepted(fields):
    check_numbers(Recipe(name="x", **fields))


@pytest.mark.parametrize("name", zoo_names())
def test_every_zoo_recipe_keeps_its_numbers_in_range_at_any_length(name):
    """What `keras-lt train --recipe NAME [--schedule short30] [--epochs N]` trains passes the check."""
    recipe = load_recipe(name)
    for schedule in ("full", "short30"):
        for epochs in (None, 1, 2, 3, 7):
            scaled = recipe.scaled(schedule)
            check_numbers(scaled if epochs is None else scaled.with_epochs(epochs)[0])


def test_a_range_says_what_it_takes():
    assert [str(RANGES[field]) for field in ("epochs", "lr", "momentum", "val_split", "seed")] == [
        "a whole number >= 1", "a number > 0", "a number in [0, 1)", "a number in (0, 1)",
        "a whole number in 0..4294967295",
    ]
    assert 0 in RANGES["imbalance_factor"] and 0.5 not in RANGES["imbalance_factor"]
    assert np.int64(3) in RANGES["epochs"] and 3.0 not in RANGES["epochs"] and float("nan") not in RANGES["lr"]


def test_a_recipe_file_in_utf8_with_a_byte_order_mark_loads(tmp_path):
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"name": "bom", "lr": 0.05}).encode())
    assert load_recipe(str(path)).lr == 0.05


def test_a_streamed_recipe_file_gets_the_streamed_pipelines_augmentation_unless_it_names_one(tmp_path):
    path = tmp_path / "stream.json"
    path.write_text(json.dumps({"name": "stream", "pipeline": "stream"}))
    assert load_recipe(str(path)).augment == "imagenet"
    path.write_text(json.dumps({"name": "stream", "pipeline": "stream", "augment": "imagenet_jitter"}))
    assert load_recipe(str(path)).augment == "imagenet_jitter"
    path.write_text(json.dumps({"name": "memory"}))
    assert load_recipe(str(path)).augment == "crop_flip"
