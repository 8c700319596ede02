"""A recipe's ingredients as data: the methods as named presets, the ingredients' names and what each needs.

Pure Python (no torch, no Keras), so a recipe is checked as it loads; `keras_lt.trainers` builds the
ingredients these name (`MIXERS`, `REGULARIZERS`, `trainer_ingredients`).
"""

import json

from keras_lt.errors import KerasLTError
from keras_lt.errors import did_you_mean

# Every ingredient a recipe can name, and its kind.
INGREDIENTS = {
    "mixup": "mixer", "cmo": "mixer", "cpmix": "regularizer", "latent_reconstruction": "regularizer",
    "latent_isda": "regularizer",
}
NEEDS = {"latent_isda": "latent_reconstruction"}  # an ingredient -> the one it needs before it


def _lcreg(config, cpmix_epoch):
    """LCReg's stage 1: MiSLAS' mixup, latent-category reconstruction and latent ISDA (the old trainer's keywords)."""

    def take(**keywords):  # ingredient keyword=method_config key
        return {new: config.pop(old) for new, old in keywords.items() if old in config}

    return {
        "mixer": {"name": "mixup", **take(alpha="alpha", lam_per_sample="lam_per_sample", seed="seed")},
        "regularizers": [
            {"name": "latent_reconstruction", **take(
                latent_categories="latent_categories", fusion="fusion", weight="recon_weight", reduction="recon_reduction"
            )},
            {"name": "latent_isda", **take(lam0="lam0", weight="aug_weight")},
        ],
        "loss_weight": config.pop("cls_weight", 1.0),
    }


def _mixer(name):
    """The preset of one mixer, all of `method_config` its settings."""

    def preset(config, cpmix_epoch):
        spec = {"name": name, **config}
        config.clear()
        return {"mixer": spec}

    return preset


def _cpmix(config, cpmix_epoch):
    """CP-Mix's regulariser, switched on at the recipe's `cpmix_epoch`."""
    spec = {"name": "cpmix", **config, "start_epoch": cpmix_epoch}
    config.clear()
    return {"regularizers": [spec]}


def _is_epoch(value):
    """Whether `value` is an epoch number (a whole number, not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _check_switches(name, ingredient, spec):
    """One `KerasLTError` line unless the spec's epoch switches have the shapes that scaling moves.

    "start_epoch" is an epoch or None, "window" `[first_epoch, last_epoch]` (`keras_lt.recipes.Recipe.with_epochs`).
    """
    start, window = spec.get("start_epoch"), spec.get("window")
    if start is not None and not _is_epoch(start):
        raise KerasLTError(
            f"recipe {name}: {ingredient}'s start_epoch must be an epoch number or null, not {json.dumps(start)}."
        )
    if window is not None and not (isinstance(window, (list, tuple)) and len(window) == 2 and all(map(_is_epoch, window))):
        raise KerasLTError(
            f"recipe {name}: {ingredient}'s window must be [first_epoch, last_epoch], not {json.dumps(window)}."
        )


# A recipe's `method`: `preset(method_config, cpmix_epoch)` -> its ingredients; it pops the keys it takes.
PRESETS = {
    "erm": lambda config, cpmix_epoch: {},
    "mixup": _mixer("mixup"),
    "cmo": _mixer("cmo"),
    "cpmix": _cpmix,
    "lcreg": _lcreg,
}


def ingredient_specs(recipe):
    """`{"mixer", "regularizers", "loss_weight"}` of `recipe`: its method's preset, then its own `mixer` and `regularizers`.

    Raises one `KerasLTError` line for an unknown method or ingredient, unknown `method_config`
    keys, two mixers, an ingredient named twice or without the one it needs before it, a
    `cpmix_epoch` without the cpmix method, or CP-Mix without its start epoch. A CMO mixer
    without a window mixes in the official epochs of the recipe's length (`cmo_window`).

    Example:
    >>> ingredient_specs(Recipe(name="x", method="mixup"))
    {'mixer': {'name': 'mixup'}, 'regularizers': [], 'loss_weight': 1.0}
    """
    name, method = recipe.name, recipe.method
    if method not in PRESETS:
        raise KerasLTError(
            f"recipe {name}: unknown method '{method}'{did_you_mean(method, PRESETS)}; choose one of {', '.join(sorted(PRESETS))}."
        )
    config = dict(recipe.method_config)
    preset = PRESETS[method](config, recipe.cpmix_epoch)
    if config:
        raise KerasLTError(f"recipe {name}: bad method_config for {method} (unknown {', '.join(sorted(config))}).")
    if recipe.cpmix_epoch is not None and method != "cpmix":
        raise KerasLTError(f"recipe {name}: cpmix_epoch switches the cpmix method; give a cpmix regulariser its start_epoch instead.")
    mixer, regularizers = preset.get("mixer"), [*preset.get("regularizers", []), *recipe.regularizers]
    if recipe.mixer is not None:
        if mixer is not None:
            raise KerasLTError(
                f"recipe {name}: two batch mixers ({mixer['name']} of method {method}, and {recipe.mixer.get('name')}); a recipe has one."
            )
        mixer = recipe.mixer
    seen = []
    for kind, spec in [("mixer", mixer)] * (mixer is not None) + [("regularizer", spec) for spec in regularizers]:
        ingredient = spec.get("name") if isinstance(spec, dict) else None
        if INGREDIENTS.get(ingredient) != kind:
            known = sorted(k for k, v in INGREDIENTS.items() if v == kind)
            raise KerasLTError(
                f"recipe {name}: unknown {kind} {ingredient!r}{did_you_mean(str(ingredient), known)}; give "
                f"{{\"name\": ..., settings}} with a name of {', '.join(known)}."
            )
        _check_switches(name, ingredient, spec)
        if ingredient in seen:
            raise KerasLTError(f"recipe {name}: {ingredient} is named twice (by the method {method} or the recipe).")
        if NEEDS.get(ingredient, ingredient) not in seen + [ingredient]:
            raise KerasLTError(f"recipe {name}: {ingredient} needs {NEEDS[ingredient]} before it in the regularizers.")
        if ingredient == "cpmix" and spec.get("start_epoch") is None:
            field = "cpmix_epoch" if method == "cpmix" else "the cpmix regularizer's start_epoch"
            raise KerasLTError(
                f"recipe {name}: CP-Mix needs {field}, the first epoch of its mixup terms (METHODS.md: 2/3 of the "
                f"epochs, {round(2 * recipe.epochs / 3)} of {recipe.epochs}); without it they never start."
            )
        seen.append(ingredient)
    if mixer is not None and mixer.get("name") == "cmo" and mixer.get("window") is None:
        mixer = {**mixer, "window": cmo_window(name, recipe.epochs)}
    return {"mixer": mixer, "regularizers": regularizers, "loss_weight": preset.get("loss_weight", 1.0)}


def cmo_window(name, epochs):
    """CMO's epochs of mixing in a recipe that gives it no window: the official `3 < epoch < epochs - 3`, 0-based.

    Example:
    >>> cmo_window("x", 200)
    [4, 196]
    """
    if epochs < 8:
        raise KerasLTError(
            f"recipe {name}: CMO's default window, the official 3 < epoch < epochs - 3, holds none of {epochs} "
            "epochs; train 8 or more, or give the cmo mixer its window in a recipe file (\"mixer\": {\"name\": "
            "\"cmo\", \"window\": [first_epoch, last_epoch]})."
        )
    return [4, epochs - 4]


def describe_method(recipe, quote=""):
    """A recipe dict's method and its own ingredients in words, for `keras-lt info` and the model card.

    Args:
        recipe: a recipe as a dict (a checkpoint's `config["recipe"]`).
        quote: put around each name (the card's "`").

    Example:
    >>> describe_method({"method": "erm", "mixer": {"name": "cmo"}, "regularizers": [{"name": "cpmix"}]})
    'method erm, mixer cmo, regularizers cpmix'
    """

    def named(specs):
        return ", ".join(f"{quote}{spec.get('name')}{quote}" for spec in specs)

    words = [f"method {quote}{recipe.get('method', '?')}{quote}"]
    if recipe.get("mixer"):
        words.append(f"mixer {named([recipe['mixer']])}")
    if recipe.get("regularizers"):
        words.append(f"regularizers {named(recipe['regularizers'])}")
    return ", ".join(words)
