"""`keras_lt.recipe_checks`: a recipe, its loss and its data checked before a run writes anything, in one line each."""

import dataclasses
import glob
import os

import numpy as np
import pytest

from keras_lt import recipe_checks
from keras_lt import training
from keras_lt.errors import KerasLTError
from keras_lt.recipes import load_recipe
from keras_lt.recipes import zoo_root
from tiny_run import TINY
from tiny_run import tiny_data
from tiny_run import tiny_recipe

pytestmark = pytest.mark.usefixtures("tiny_architecture")


def test_init_from_a_checkpoint_of_another_image_size_fails_before_anything_is_written(tmp_path):
    base = str(tmp_path / "base")
    training.train(tiny_recipe(), base, data=tiny_data(), verbose=0)  # 8x8 images
    data = tiny_data()
    pad = ((0, 0), (2, 2), (2, 2), (0, 0))
    larger = dataclasses.replace(data, train_images=np.pad(data.train_images, pad), test_images=np.pad(data.test_images, pad))
    out = tmp_path / "run"
    with pytest.raises(KerasLTError, match="takes 8x8 images; pass --image-size 8x8") as error:
        training.train(tiny_recipe(name="tiny-whole", init_from=base), str(out), data=larger, verbose=0)
    assert "\n" not in str(error.value)
    assert not out.exists()


@pytest.mark.parametrize("fields, kind", [
    ({"classifier": "cosine", "loss": "ldam"}, f"a {TINY} with a cosine one"),
    ({"architecture": "resnet32"}, "a resnet32 with a linear one"),
])
def test_init_from_a_checkpoint_of_another_architecture_or_classifier_fails_before_anything_is_written(
    tmp_path, fields, kind
):
    """The checkpoint is what trains: a recipe saying otherwise (a cosine LDAM on a linear CE model) is refused."""
    base = str(tmp_path / "base")
    training.train(tiny_recipe(), base, data=tiny_data(), verbose=0)  # linear
    out = tmp_path / "run"
    with pytest.raises(KerasLTError, match=f"init_from {base} is a .* with a linear classifier, the recipe trains "
                                           f"{kind}") as error:
        training.train(tiny_recipe(name="tiny-whole", init_from=base, **fields), str(out), data=tiny_data(), verbose=0)
    assert "\n" not in str(error.value)
    assert not out.exists()


def test_milestones_without_one_factor_each_fail_before_anything_is_written(tmp_path):
    out = tmp_path / "run"
    recipe = tiny_recipe(milestones=[1], factors=[0.1, 0.01])
    with pytest.raises(KerasLTError, match=r"milestones \[1\] and factors \[0.1, 0.01\] differ in length") as error:
        training.train(recipe, str(out), data=tiny_data(), verbose=0)
    assert "\n" not in str(error.value) and str(error.value).startswith("recipe tiny-ce: ")
    assert not out.exists()
    recipe_checks.check_recipe(dataclasses.replace(recipe, lr_decay="cosine"))  # a cosine decay has no milestones


def test_a_loss_that_needs_images_of_every_class_fails_before_anything_is_written(tmp_path):
    """LDAM's margins need every class's count: a training set without class "b" is refused, in one line."""
    data = tiny_data()
    kept = data.train_labels != 2
    data = dataclasses.replace(data, train_images=data.train_images[kept], train_labels=data.train_labels[kept])
    assert data.class_counts.tolist() == [8, 8, 0]
    out = tmp_path / "run"
    recipe = tiny_recipe(loss="ldam", classifier="cosine")
    with pytest.raises(KerasLTError, match="the ldam loss does not build on the training set's class counts") as error:
        training.train(recipe, str(out), data=data, verbose=0)
    assert "\n" not in str(error.value)
    assert not out.exists()


@pytest.mark.parametrize("fields, message", [
    ({"lr": -1}, "lr must be a number > 0, not -1."),
    ({"epochs": 0}, "epochs must be a whole number >= 1, not 0."),
    ({"batch_size": 0}, "batch_size must be a whole number >= 1, not 0."),
    ({"image_size": [16]}, "image_size must be [height, width] or one side, not [16]."),
    ({"warmup_epochs": 50}, "warmup_epochs must be a whole number in 0..2, not 50."),
    ({"seed": -5}, "seed must be a whole number in 0..4294967295, not -5."),
])
def test_a_number_out_of_its_range_fails_before_anything_is_written(tmp_path, fields, message):
    """A recipe made in code or changed by the CLI's options is checked as a recipe file is (`check_numbers`)."""
    out = tmp_path / "run"
    with pytest.raises(KerasLTError) as error:
        training.train(tiny_recipe(**fields), str(out), data=tiny_data(), verbose=0)
    assert str(error.value) == f"recipe tiny-ce: {message}"
    assert not out.exists()


def test_a_recipe_name_that_is_a_path_fails_before_anything_is_written(tmp_path):
    for name in ("../escape", "/abs", "a/b", ".."):
        with pytest.raises(KerasLTError, match="one path component"):
            training.train(tiny_recipe(name=name), str(tmp_path / "run"), data=tiny_data(), verbose=0)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "field, value", [("loss", "nope"), ("method", "nope"), ("architecture", "nope"), ("sampler", "nope")]
)
def test_unknown_names_fail_before_anything_is_written(tmp_path, field, value):
    out = tmp_path / "run"
    with pytest.raises(KerasLTError, match=f"unknown {field} 'nope'; choose one of") as error:
        training.train(tiny_recipe(**{field: value}), str(out), data=tiny_data(), verbose=0)
    assert "\n" not in str(error.value)
    assert not out.exists()


def test_a_bad_finetune_setting_fails_before_anything_is_written(tmp_path):
    out = tmp_path / "run"
    recipe = tiny_recipe(finetune={"method": "crt", "epochs": 1, "learning_rate": 0.1})
    with pytest.raises(KerasLTError, match="bad finetune setting.*learning_rate"):
        training.train(recipe, str(out), data=tiny_data(), verbose=0)
    assert not out.exists()


@pytest.mark.parametrize("setting, match", [
    ({"atack_fraction": 0.5}, r"\(AFR takes no setting atack_fraction; its settings: epochs, .*, attack_fraction,"),
    ({"mixer": {"name": "cmo"}}, r"AFR takes no setting mixer;"),
    ({"attack_fraction": 1.5}, r"\(AFR's attack_fraction must be a number in \[0, 1\], got 1.5\)\.$"),
    ({"cutmix_fraction": 2}, r"AFR's cutmix_fraction must be a number in \[0, 1\], got 2\)"),
    ({"alpha": 0.0}, r"AFR's alpha must be a number > 0, got 0.0\)"),
    ({"pgd_steps": 2.5}, r"AFR's pgd_steps must be a whole number >= 0, got 2.5\)"),
    ({"regenerate_every": 0}, r"AFR's regenerate_every must be a whole number >= 1, got 0\)"),
])
def test_a_bad_afr_setting_fails_before_stage_1(tmp_path, setting, match):
    """A misspelt or out-of-range AFR knob is refused in one line before stage 1 trains, not after it."""
    out = tmp_path / "run"
    recipe = tiny_recipe(finetune={**load_recipe("afr-resnet32-cifar10lt").finetune, **setting})
    with pytest.raises(KerasLTError, match=match) as error:
        training.train(recipe, str(out), data=tiny_data(), verbose=0)
    assert "\n" not in str(error.value) and str(error.value).startswith("recipe tiny-ce: bad finetune setting (")
    assert not out.exists()


@pytest.mark.parametrize("fields, match", [
    ({"loss": "focal", "loss_config": {"gama": 2}}, "bad loss_config for focal (.*'gama'"),
    ({"loss_config": {"gama": 2}}, "bad loss_config for ce (.*'gama'"),
    ({"loss": "cb", "loss_config": {"base": "focal"}}, "bad loss_config for cb (unknown base 'focal'"),
    ({"loss": "bs", "loss_config": {"tau": 0.5}}, "bad loss_config for bs (.*use the logit_adjusted loss"),
    ({"drw_epoch": 1}, "drw_epoch switches on deferred re-weighting, which the ce loss does not have"),
    ({"drw_epoch": 1}, 'choose one .CE-DRW: loss focal with loss_config {"gamma": 0} is CE. or set drw_epoch to null'),
    ({"loss": "bs", "drw_epoch": 1}, "which the bs loss does not have .*focal, kps, ldam"),
    ({"loss": "cb", "drw_epoch": 1}, "which the cb loss does not have"),
    ({"loss": "ldam", "classifier": "cosine", "ga_epoch": 1}, "ga_epoch switches on KPS' gradient adjustment, which the ldam"),
    ({"loss": "ldam"}, "the ldam loss is defined on a cosine classifier's logits, not a linear one's; set classifier"),
    ({"loss": "kps", "ga_epoch": 1}, "the kps loss is defined on a cosine classifier's logits"),
    ({"classifier": "cosine"}, r"a cosine classifier outputs cosines in \[-1, 1\], on which the ce loss barely trains"),
    ({"loss": "bs", "classifier": "cosine"}, "on which the bs loss barely trains .it has no scale.; train it with a "
                                             "loss that scales them .kps, ldam., or set classifier \"linear\"\\.$"),
])
def test_a_loss_the_recipe_cannot_train_with_fails_before_anything_is_written(tmp_path, fields, match):
    out = tmp_path / "run"
    with pytest.raises(KerasLTError, match=match.replace("(", r"\(")) as error:
        training.train(tiny_recipe(**fields), str(out), data=tiny_data(), verbose=0)
    assert "\n" not in str(error.value) and str(error.value).startswith("recipe tiny-ce: ")
    assert not out.exists()


@pytest.mark.parametrize("fields", [
    {"loss": "focal", "loss_config": {"gamma": 2.0}, "drw_epoch": 1},
    {"loss": "focal", "loss_config": {"gamma": 0}, "drw_epoch": 1},  # CE-DRW
    {"loss": "ldam", "classifier": "cosine", "drw_epoch": 1},
    {"loss": "kps", "classifier": "cosine", "drw_epoch": 1, "ga_epoch": 1},
    {"loss": "bs", "loss_config": {"tau": 1.0}},
])
def test_a_loss_with_the_switches_and_classifier_it_has_passes_the_check(fields):
    recipe_checks.check_recipe(tiny_recipe(**fields))


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(zoo_root(), "*", "*recipe.json"))))
def test_every_zoo_recipe_file_passes_the_check_in_full_and_short30(path):
    recipe = load_recipe(path)
    recipe_checks.check_recipe(recipe)
    recipe_checks.check_recipe(recipe.scaled("short30"))


@pytest.mark.parametrize("fields, also", [
    ({"loss": "bs"}, "the bs loss"), ({"loss": "la"}, "the la loss"), ({"loss": "cb"}, "the cb loss"),
    ({"loss": "focal", "drw_epoch": 1}, "deferred re-weighting"),
    ({"mixer": {"name": "cmo", "window": [0, 1]}}, "CMO (its backgrounds are meant to be instance-sampled)"),
    ({}, None), ({"loss": "ldam", "classifier": "cosine"}, None),
])
def test_a_rebalancing_sampler_beside_another_rebalancing_is_noted(fields, also):
    recipe = tiny_recipe(sampler="square_root", **fields)
    expected = None if also is None else (
        f"the square_root sampler and {also} both re-balance the classes (over-balancing, Ren et al. 2020)"
    )
    assert recipe_checks.rebalancing_note(recipe) == expected
    assert recipe_checks.rebalancing_note(tiny_recipe(**fields)) is None  # instance sampling: nothing twice


def test_an_imagenet_resnet_on_small_images_never_ends_an_epoch_on_one_image(tmp_path):
    """Its last feature map is 1x1 up to 32 px: BatchNorm on one image was torch's traceback in the last step."""
    from keras_lt.training_data import TrainingData

    labels = np.arange(9) % 3
    data = TrainingData(np.zeros((9, 32, 32, 3), np.uint8), labels, np.zeros((3, 32, 32, 3), np.uint8), labels[:3],
                        ["a", "b", "c"])
    recipe = tiny_recipe(architecture="resnet10", image_size=32)
    with pytest.raises(KerasLTError) as error:
        recipe_checks.check_data(recipe, data)
    assert str(error.value) == (
        "recipe tiny-ce: 9 training images leave one image in the last batch of 8, which resnet10's BatchNorm cannot "
        "train on at 32 px (its last feature map is 1x1); choose a batch size of 9 (or images of 33 px or more)."
    )
    recipe_checks.check_data(dataclasses.replace(recipe, batch_size=9), data)
    recipe_checks.check_data(dataclasses.replace(recipe, architecture="resnet32"), data)  # 8x8 at the end: fine
