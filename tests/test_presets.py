"""`keras_lt.presets`: a recipe's method and ingredients as data, checked without building anything."""

import pytest

from keras_lt.errors import KerasLTError
from keras_lt.presets import describe_method
from keras_lt.presets import ingredient_specs
from keras_lt.recipes import Recipe


def test_the_methods_ingredients_come_first_then_the_recipes():
    config = {"latent_categories": 8, "alpha": 0.5}
    recipe = Recipe(name="x", method="lcreg", method_config=config, regularizers=[{"name": "cpmix", "start_epoch": 3}])
    specs = ingredient_specs(recipe)
    assert [spec["name"] for spec in specs["regularizers"]] == ["latent_reconstruction", "latent_isda", "cpmix"]
    assert specs["mixer"] == {"name": "mixup", "alpha": 0.5} and specs["loss_weight"] == 1.0
    assert recipe.method_config == {"latent_categories": 8, "alpha": 0.5}  # the preset took a copy's keys
    mixer = ingredient_specs(Recipe(name="x", mixer={"name": "cmo", "window": (1, 2)}))
    assert mixer == {"mixer": {"name": "cmo", "window": (1, 2)}, "regularizers": [], "loss_weight": 1.0}


@pytest.mark.parametrize(
    "fields, message",
    [
        (
            {"method": "mixpu"},
            "recipe x: unknown method 'mixpu' (did you mean 'mixup'?); choose one of cmo, cpmix, erm, lcreg, mixup.",
        ),
        (
            {"regularizers": [{"name": "latent_isda"}, {"name": "latent_reconstruction"}]},
            "recipe x: latent_isda needs latent_reconstruction before it in the regularizers.",
        ),
        (
            {"regularizers": [{"name": "cpmix", "start_epoch": True}]},
            "recipe x: cpmix's start_epoch must be an epoch number or null, not true.",
        ),
        (
            {"mixer": {"name": "cmo", "window": [1, 2, 3]}},
            "recipe x: cmo's window must be [first_epoch, last_epoch], not [1, 2, 3].",
        ),
        (
            {"mixer": {"name": "cmo", "window": [1, 2.0]}},
            "recipe x: cmo's window must be [first_epoch, last_epoch], not [1, 2.0].",
        ),
        (
            {"mixer": {"name": "latent_isda"}},  # a regulariser is no mixer
            "recipe x: unknown mixer 'latent_isda'; give {\"name\": ..., settings} with a name of cmo, mixup.",
        ),
    ],
)
def test_a_bad_recipe_is_one_line(fields, message):
    with pytest.raises(KerasLTError) as error:
        ingredient_specs(Recipe(name="x", **fields))
    assert str(error.value) == message


@pytest.mark.parametrize(
    "recipe, quote, words",
    [
        ({"method": "erm"}, "", "method erm"),
        ({}, "", "method ?"),
        (
            {"method": "cpmix", "mixer": {"name": "cmo"},
             "regularizers": [{"name": "latent_reconstruction"}, {"name": "latent_isda"}]},
            "`",
            "method `cpmix`, mixer `cmo`, regularizers `latent_reconstruction`, `latent_isda`",
        ),
        ({"method": "erm", "mixer": None, "regularizers": []}, "", "method erm"),
    ],
)
def test_describe_method_in_words(recipe, quote, words):
    assert describe_method(recipe, quote=quote) == words
