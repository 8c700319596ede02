"""Tests keras_lt.trainers.ingredients: ingredients by name, a recipe's trainer keywords, its loss's epoch switches."""

import dataclasses

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import pytest

from keras_lt.callbacks.deferred_reweighting import DeferredReweighting
from keras_lt.callbacks.gradient_adjustment import GradientAdjustment
from keras_lt.errors import KerasLTError
from keras_lt.losses import KPSLoss
from keras_lt.recipes import load_recipe
from keras_lt.trainers import CMO
from keras_lt.trainers import ConfusionPairMixing
from keras_lt.trainers import LatentISDA
from keras_lt.trainers import LatentReconstruction
from keras_lt.trainers import Mixup
from keras_lt.trainers.ingredients import loss_switches
from keras_lt.trainers.ingredients import make_ingredient
from keras_lt.trainers.ingredients import trainer_ingredients


@pytest.mark.parametrize("spec, cls, attribute", [
    ({"name": "mixup", "alpha": 0.3}, Mixup, "alpha"),
    ({"name": "cmo", "probability": 0.3}, CMO, "probability"),
    ({"name": "cpmix", "eta": 0.3}, ConfusionPairMixing, "eta"),
    ({"name": "latent_reconstruction", "weight": 0.3}, LatentReconstruction, "weight"),
    ({"name": "latent_isda", "weight": 0.3}, LatentISDA, "weight"),
])
def test_each_recipe_name_builds_its_ingredient(spec, cls, attribute):
    built = make_ingredient(spec)
    assert type(built) is cls and getattr(built, attribute) == 0.3  # its own setting reached it


def test_make_ingredient_leaves_the_spec_alone_and_passes_every_setting():
    spec = {"name": "mixup", "alpha": 0.2, "lam_per_sample": True}
    mixup = make_ingredient(spec)
    assert isinstance(mixup, Mixup) and mixup.spec() == {**spec, "seed": None}
    assert spec == {"name": "mixup", "alpha": 0.2, "lam_per_sample": True}  # the recipe's spec is left alone
    cpmix = make_ingredient({"name": "cpmix", "eta": 0.5, "start_epoch": 3})
    assert isinstance(cpmix, ConfusionPairMixing) and (cpmix.eta, cpmix.start_epoch) == (0.5, 3)


@pytest.mark.parametrize("spec, message", [
    ({"name": "mixup", "alpha": -1.0}, "recipe mine: bad settings for mixup (alpha must be > 0, got -1.0"),
    ({"name": "cpmix", "gamma": 1},
     "recipe mine: bad settings for cpmix (ConfusionPairMixing.__init__() got an unexpected keyword argument 'gamma')."),
    ({"name": "latent_reconstruction", "reduction": "max"},
     "recipe mine: bad settings for latent_reconstruction (reduction must be one of mean, sum, got 'max'"),
])
def test_bad_settings_are_one_line_naming_the_recipe_and_the_ingredient(spec, message):
    """TypeError, ValueError and KerasLTError of the ingredient's constructor, each wrapped in one line."""
    with pytest.raises(KerasLTError) as error:
        make_ingredient(spec, "mine")
    assert str(error.value).startswith(message) and "\n" not in str(error.value)
    assert str(error.value).endswith(").") and not str(error.value).endswith(".).")  # one full stop


def test_an_unknown_ingredient_is_one_line_naming_the_choices():
    with pytest.raises(KerasLTError, match=r"^recipe mine: unknown ingredient 'mixupp'; choose one of: mixup, cmo, "
                                           r"cpmix, latent_reconstruction, latent_isda\.$"):
        make_ingredient({"name": "mixupp"}, "mine")


def test_trainer_ingredients_are_the_presets_and_the_recipes_own():
    plain = trainer_ingredients(load_recipe("ce-resnet32-cifar10lt"))
    assert plain == {"mixer": None, "regularizers": [], "loss_weight": 1.0}
    lcreg = load_recipe("lcreg-resnet32-cifar10lt")
    recipe = dataclasses.replace(
        lcreg, method_config={**lcreg.method_config, "alpha": 0.3, "cls_weight": 0.7, "latent_categories": 8},
        regularizers=[{"name": "cpmix", "eta": 0.5, "start_epoch": 5}],
    )
    built = trainer_ingredients(recipe)
    assert isinstance(built["mixer"], Mixup) and built["mixer"].alpha == 0.3 and built["loss_weight"] == 0.7
    reconstruction, isda, cpmix = built["regularizers"]
    assert isinstance(reconstruction, LatentReconstruction) and reconstruction.get_config()["latent_categories"] == 8
    assert isinstance(isda, LatentISDA) and isinstance(cpmix, ConfusionPairMixing)
    assert (cpmix.eta, cpmix.start_epoch) == (0.5, 5)


def test_loss_switches_come_from_the_recipes_epochs():
    loss = KPSLoss([30, 10, 3])
    kps = load_recipe("kps-resnet32-cifar10lt")  # GA from epoch 120, no DRW
    (ga,) = loss_switches(kps, loss)
    assert isinstance(ga, GradientAdjustment) and ga.loss is loss and ga.start_epoch == 120
    drw, ga = loss_switches(dataclasses.replace(kps, drw_epoch=160), loss)
    assert isinstance(drw, DeferredReweighting) and drw.loss is loss and drw.start_epoch == 160
    assert isinstance(ga, GradientAdjustment) and ga.start_epoch == 120
    assert loss_switches(load_recipe("ce-resnet32-cifar10lt"), loss) == []
