"""LCReg's latent categories on any keras-lt model: the re-represented features feed the classifier.

An architecture dict with `"latent_categories": M` (and optionally `"fusion"`) builds the named model
and puts a `LatentCategoryReconstruction` (named "latent_categories") between its last spatial
feature map and its global pooling: logits = classifier(GAP(f + f^)) for fusion "residual" (the
default, our reading of LCReg), classifier(GAP(f^)) for "replace". `keras_lt.models.build` does it,
so `save_pretrained` / `from_pretrained` and the decoupling stages round-trip such models, and the
model still maps images to logits.
"""

import keras

from keras_lt.errors import KerasLTError
from keras_lt.layers import LatentCategoryReconstruction

LATENT_KEYS = ("latent_categories", "fusion")
FUSIONS = ("residual", "replace")
LAYER_NAME = "latent_categories"
POOL_NAME = "pool"


def add_latent_categories(model, latent_categories, fusion="residual"):
    """A model of `model`'s backbone with a latent category layer before its pooling, sharing its layers.

    `model` must be a functional keras-lt model whose head is a layer named "pool" (global average
    pooling, channels-first) followed by a chain of single-input layers (classifier, logit scale).
    The head layers are re-created (same names, fresh weights); the backbone layers are shared.

    Args:
        model: a functional model built by a keras-lt architecture function.
        latent_categories: number of latent categories M.
        fusion: "residual" (GAP(f + f^)) or "replace" (GAP(f^)).

    Returns:
        The new functional model (images -> logits); its `keras_lt_config` records M and the fusion.

    Example:
    >>> model = add_latent_categories(resnet32(100), 50)
    """
    if fusion not in FUSIONS:
        raise KerasLTError(f"fusion must be one of {', '.join(FUSIONS)}, got '{fusion}'.")
    names = [layer.name for layer in model.layers]
    if POOL_NAME not in names:
        raise KerasLTError("latent categories need a model whose global pooling layer is named 'pool'.")
    if LAYER_NAME in names:
        raise KerasLTError("this model already has latent categories.")
    pool = model.get_layer(POOL_NAME)
    features = pool.input
    data_format = getattr(pool, "data_format", "channels_last")
    latent = LatentCategoryReconstruction(int(latent_categories), data_format=data_format, name=LAYER_NAME)
    reconstruction, _ = latent(features)
    if fusion == "residual":
        x = keras.layers.Add(name="latent_fusion")([features, reconstruction])
    else:
        x = reconstruction
    previous = pool
    for layer in model.layers[names.index(POOL_NAME):]:
        if layer is not pool and previous.output is not layer.input:
            raise KerasLTError(
                f"cannot add latent categories: layer '{layer.name}' is not a head layer after 'pool'."
            )
        x = layer.__class__.from_config(layer.get_config())(x)
        previous = layer
    if previous.output is not model.output:
        raise KerasLTError("cannot add latent categories: the model's output is not at the end of its head.")
    new = keras.Model(model.input, x, name=model.name)
    config = dict(getattr(model, "keras_lt_config", None) or {})
    if "architecture" in config:
        latent = {"latent_categories": int(latent_categories), "fusion": fusion}
        config["architecture"] = {**config["architecture"], **latent}
    new.keras_lt_config = config
    return new


def latent_layer(network):
    """The network's `LatentCategoryReconstruction` layer, or None."""
    return next((layer for layer in network.layers if isinstance(layer, LatentCategoryReconstruction)), None)


def training_view(network):
    """A model sharing `network`'s layers that returns `[logits, f, f^, S^]` in one forward pass.

    `f` is the latent layer's input (the backbone's feature map), `f^` its reconstruction and `S^`
    its softmax weights over the latent categories.

    Example:
    >>> logits, features, reconstruction, weights = training_view(network)(images)
    """
    layer = latent_layer(network)
    if layer is None:
        raise KerasLTError("this network has no latent categories; build it with \"latent_categories\": M.")
    reconstruction, weights = layer.output
    return keras.Model(network.input, [network.output, layer.input, reconstruction, weights])
