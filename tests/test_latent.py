"""Tests keras_lt.models.latent: latent categories added before a model's pooling, the training view, the checks."""

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np
import pytest

from keras_lt.errors import KerasLTError
from keras_lt.layers import LatentCategoryReconstruction
from keras_lt.models.latent import add_latent_categories
from keras_lt.models.latent import latent_layer
from keras_lt.models.latent import training_view

numpy = keras.ops.convert_to_numpy
ARCHITECTURE = {"name": "tiny", "num_classes": 3}


def tiny_model(pool_name="pool"):
    """A channels-last 1x1 conv, global average pooling and a Dense classifier, with a keras-lt config."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4, 4, 3))
    features = keras.layers.Conv2D(5, 1, name="conv")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D(name=pool_name)(features)
    model = keras.Model(inputs, keras.layers.Dense(3, name="classifier")(pooled), name="tiny")
    model.keras_lt_config = {"architecture": dict(ARCHITECTURE), "class_names": ["a", "b", "c"]}
    return model


@pytest.mark.parametrize("fusion", ["residual", "replace"])
def test_the_classifier_sees_the_pooled_fused_features(fusion):
    model = tiny_model()
    latent = add_latent_categories(model, 2, fusion)
    images = np.random.default_rng(0).uniform(0, 1, (2, 4, 4, 3)).astype("float32")
    logits, f, f_hat, weights = (numpy(t).astype(np.float64) for t in training_view(latent)(images))
    conv = model.get_layer("conv")
    np.testing.assert_allclose(f, images @ numpy(conv.kernel)[0, 0] + numpy(conv.bias), rtol=1e-5, atol=1e-6)
    assert f_hat.shape == (2, 4, 4, 5) and weights.shape == (2, 4, 4, 2)  # the pool's channels-last layout
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-6)
    head = latent.get_layer("classifier")
    pooled = (f + f_hat if fusion == "residual" else f_hat).mean((1, 2))
    np.testing.assert_allclose(logits, pooled @ numpy(head.kernel) + numpy(head.bias), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(numpy(latent(images)), logits, rtol=1e-5, atol=1e-6)


def test_the_backbone_is_shared_the_head_recreated_and_the_config_records_the_latents():
    model = tiny_model()
    latent = add_latent_categories(model, 4.0)
    assert latent.name == "tiny" and latent.get_layer("conv") is model.get_layer("conv")
    head = latent.get_layer("classifier")
    assert head is not model.get_layer("classifier") and head.get_config() == model.get_layer("classifier").get_config()
    layer = latent_layer(latent)
    assert isinstance(layer, LatentCategoryReconstruction) and layer is latent.get_layer("latent_categories")
    assert layer.num_latents == 4 and layer.data_format == "channels_last"
    assert latent.keras_lt_config == {
        "architecture": {**ARCHITECTURE, "latent_categories": 4, "fusion": "residual"}, "class_names": ["a", "b", "c"],
    }
    assert model.keras_lt_config["architecture"] == ARCHITECTURE and latent_layer(model) is None  # input untouched
    del model.keras_lt_config
    assert add_latent_categories(model, 2).keras_lt_config == {}  # nothing to record without an architecture


def two_headed(features_out):
    """Logits and, beside them, the feature map as a second output (True) or pooled by a layer after 'pool' (False)."""
    inputs = keras.Input((4, 4, 3))
    features = keras.layers.Conv2D(5, 1, name="conv")(inputs)
    logits = keras.layers.Dense(3, name="classifier")(keras.layers.GlobalAveragePooling2D(name="pool")(features))
    if features_out:
        return keras.Model(inputs, [logits, features])
    side = keras.layers.GlobalMaxPooling2D(name="max")(features)
    return keras.Model(inputs, keras.layers.Concatenate(name="both")([logits, side]))


def test_models_it_cannot_extend_are_refused_in_one_line():
    cases = [
        (lambda: add_latent_categories(tiny_model(), 2, "concat"), "fusion must be one of residual, replace, got 'concat'."),
        (lambda: add_latent_categories(tiny_model("gap"), 2),
         "latent categories need a model whose global pooling layer is named 'pool'."),
        (lambda: add_latent_categories(add_latent_categories(tiny_model(), 2), 2), "this model already has latent categories."),
        (lambda: add_latent_categories(two_headed(False), 2),
         "cannot add latent categories: layer 'max' is not a head layer after 'pool'."),
        (lambda: add_latent_categories(two_headed(True), 2),
         "cannot add latent categories: the model's output is not at the end of its head."),
        (lambda: training_view(tiny_model()),
         "this network has no latent categories; build it with \"latent_categories\": M."),
    ]
    for call, message in cases:
        with pytest.raises(KerasLTError) as error:
            call()
        assert str(error.value) == message
