"""A fresh copy of a keras-lt model, optionally with a changed architecture, holding its weights."""

from keras_lt.errors import KerasLTError
from keras_lt.models.registry import build

# What a rebuilt model keeps of the source's `keras_lt_config`: the data it was trained on. The name,
# recipe and metrics describe the source model, not the new one.
CARRIED_CONFIG = ("class_names", "train_class_counts", "dataset")


def rebuild(network, fresh=(), **architecture):
    """A new model of `network`'s architecture (updated with `architecture`) holding its weights.

    Stage-2 pipelines (cRT, LWS, tau-norm, MiSLAS, AFR) start from it, so the input model is left
    untouched and the result round-trips through `save_pretrained` / `from_pretrained`. Layers named
    in `fresh`, and layers `network` does not have (a logit scale added by `logit_scale=True`), keep
    their new initialisation.

    Args:
        network: a keras-lt model (it carries its architecture in `keras_lt_config`).
        fresh: names of layers to leave at their new initialisation.
        **architecture: architecture entries to change (e.g. `logit_scale=True`).

    Returns:
        The new `keras.Model`, its `keras_lt_config` holding the new architecture and the source's
        class names, training counts and dataset.

    Example:
    >>> crt_start = rebuild(model, fresh=("classifier",))
    >>> with_scale = rebuild(model, logit_scale=True)
    """
    config = getattr(network, "keras_lt_config", None) or {}
    if "architecture" not in config:
        raise KerasLTError(
            "this model has no keras-lt architecture; load it with keras_lt.from_pretrained "
            "or build it with keras_lt.models."
        )
    try:
        model = build({**config["architecture"], **architecture})
    except TypeError as error:
        raise KerasLTError(
            f"cannot rebuild architecture '{config['architecture'].get('name')}' with {architecture} "
            f"({error}); its model function needs that argument."
        ) from None
    source = {layer.name: layer for layer in network.layers}
    for layer in model.layers:
        if layer.name in source and layer.name not in fresh:
            layer.set_weights(source[layer.name].get_weights())
    model.keras_lt_config = {**{k: config[k] for k in CARRIED_CONFIG if k in config}, **model.keras_lt_config}
    return model
