"""The ingredients a recipe names, by name, and the loss's epoch switches."""

from keras_lt.callbacks.deferred_reweighting import DeferredReweighting
from keras_lt.callbacks.gradient_adjustment import GradientAdjustment
from keras_lt.errors import KerasLTError
from keras_lt.trainers.cmo import CMO
from keras_lt.trainers.cpmix import ConfusionPairMixing
from keras_lt.trainers.latent_isda import LatentISDA
from keras_lt.trainers.latent_reconstruction import LatentReconstruction
from keras_lt.trainers.mixup import Mixup

MIXERS = {cls.name: cls for cls in (Mixup, CMO)}
REGULARIZERS = {cls.name: cls for cls in (ConfusionPairMixing, LatentReconstruction, LatentISDA)}
LOSS_SWITCHES = {"drw_epoch": DeferredReweighting, "ga_epoch": GradientAdjustment}  # recipe field -> switch of the loss


def make_ingredient(spec, recipe_name="?"):
    """The ingredient of a recipe's `{"name": ..., **settings}`; one `KerasLTError` line for bad settings.

    Example:
    >>> make_ingredient({"name": "mixup", "alpha": 0.2})
    """
    settings = dict(spec)
    name = settings.pop("name", None)
    known = {**MIXERS, **REGULARIZERS}
    if name not in known:
        raise KerasLTError(f"recipe {recipe_name}: unknown ingredient {name!r}; choose one of: {', '.join(known)}.")
    try:
        return known[name](**settings)
    except (TypeError, ValueError, KerasLTError) as error:
        raise KerasLTError(f"recipe {recipe_name}: bad settings for {name} ({str(error).rstrip('.')}).") from None


def trainer_ingredients(recipe):
    """`{"mixer", "regularizers", "loss_weight"}`: the keyword arguments of `ERMTrainer` for `recipe`.

    Example:
    >>> trainer = ERMTrainer(network, **trainer_ingredients(load_recipe("cpmix-kps-resnet32-cifar10lt")))
    """
    specs = recipe.ingredients()
    mixer = specs["mixer"]
    return {
        "mixer": None if mixer is None else make_ingredient(mixer, recipe.name),
        "regularizers": [make_ingredient(spec, recipe.name) for spec in specs["regularizers"]],
        "loss_weight": specs["loss_weight"],
    }


def loss_switches(recipe, loss):
    """The epoch switches of the recipe's loss (DRW from `drw_epoch`, KPS's GA from `ga_epoch`)."""
    return [switch(loss, getattr(recipe, field)) for field, switch in LOSS_SWITCHES.items() if getattr(recipe, field) is not None]
