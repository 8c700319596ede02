"""The architecture registry: every model remembers the arguments that rebuild it."""

import functools
import inspect

from keras_lt.errors import UnknownModelError

ARCHITECTURES = {}


def register_architecture(name):
    """Registers a model function under `name` and records its arguments on the models it returns.

    The returned model carries `model.keras_lt_config = {"architecture": {"name": name, **args}}`,
    which `keras_lt.save_pretrained` writes to `config.json` and `build` reads back; so the function
    may not take an argument called `name`.

    Example:
    >>> @register_architecture("tiny")
    ... def tiny(num_classes): ...
    """

    def decorator(function):
        signature = inspect.signature(function)
        if "name" in signature.parameters:
            raise TypeError(f"architecture '{name}': its function may not take a 'name' argument.")
        var_keyword = next(
            (p.name for p in signature.parameters.values() if p.kind is inspect.Parameter.VAR_KEYWORD), None
        )

        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            arguments = dict(bound.arguments)
            if var_keyword:
                arguments.update(arguments.pop(var_keyword))
            arguments = {k: list(v) if isinstance(v, tuple) else v for k, v in arguments.items()}
            if "name" in arguments:
                raise TypeError(f"architecture '{name}' takes no 'name' argument.")
            model = function(*args, **kwargs)
            model.keras_lt_config = {"architecture": {"name": name, **arguments}}
            return model

        ARCHITECTURES[name] = wrapper
        return wrapper

    return decorator


def build(architecture):
    """Builds the model an architecture dict describes (`name` plus that function's arguments).

    `"latent_categories": M` (with an optional `"fusion"`) adds LCReg's latent category layer before
    the model's pooling (`keras_lt.models.latent`); any architecture takes it. `"output_scale": s`
    multiplies a cosine classifier's output by `s` (`set_output_scale`).

    Example:
    >>> model = build({"name": "resnet32", "num_classes": 10, "classifier": "cosine"})
    >>> lcreg = build({"name": "resnet32", "num_classes": 10, "latent_categories": 40})
    """
    from keras_lt.models.latent import LATENT_KEYS
    from keras_lt.models.latent import add_latent_categories

    arguments = dict(architecture)
    name = arguments.pop("name", None)
    if name not in ARCHITECTURES:
        raise UnknownModelError(f"unknown architecture '{name}'; known: {', '.join(sorted(ARCHITECTURES))}.")
    latent = {key: arguments.pop(key) for key in LATENT_KEYS if key in arguments}
    output_scale = arguments.pop("output_scale", None)
    model = ARCHITECTURES[name](**arguments)
    if latent.get("latent_categories") is not None:
        model = add_latent_categories(model, **latent)
    if output_scale is not None:
        set_output_scale(model, output_scale)
    return model


def set_output_scale(model, scale):
    """Makes the cosine classifier of `model` output `scale * cos` and records it in its architecture.

    For publishing a model trained with a scaled cosine loss (LDAM s = 30, KPS s = 15): the ranking,
    hence top-1, is unchanged; softmax probabilities (predict, ECE, NLL) become meaningful, and a
    stage 2 with a plain cross-entropy (cRT, LWS, MiSLAS, AFR, CP-Mix's fine-tune) trains on them.
    `None` takes the scale off (bare cosines), for training with a loss that applies its own.

    Args:
        model: a keras-lt model with a cosine (`NormedLinear`) classifier.
        scale: the factor on the cosines, or None for none.

    Example:
    >>> set_output_scale(network, 30.0)
    """
    from keras_lt.layers import NormedLinear

    classifier = model.get_layer("classifier")
    if not isinstance(classifier, NormedLinear):
        raise ValueError("output_scale applies to a cosine (NormedLinear) classifier only.")
    classifier.scale = 1.0 if scale is None else float(scale)
    config = getattr(model, "keras_lt_config", None)
    if config is not None:
        architecture = {k: v for k, v in config["architecture"].items() if k != "output_scale"}
        config["architecture"] = architecture if scale is None else {**architecture, "output_scale": float(scale)}
