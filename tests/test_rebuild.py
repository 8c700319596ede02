"""`keras_lt.models.rebuild`: weights carried, fresh layers re-initialised, architecture changes, config kept."""

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np
import pytest

from keras_lt import models
from keras_lt.errors import KerasLTError

TINY = "test_resnet8"  # registered by the tiny_architecture fixture (conftest.py)
pytestmark = pytest.mark.usefixtures("tiny_architecture")


def trained_looking_model():
    keras.utils.set_random_seed(0)
    model = models.build({"name": TINY, "num_classes": 3})
    rng = np.random.default_rng(1)
    for variable in model.weights:  # values no initialiser would give, BN statistics included
        variable.assign(rng.normal(size=variable.shape).astype("float32"))
    model.keras_lt_config = {
        **model.keras_lt_config, "class_names": ["r", "g", "b"], "train_class_counts": [5, 3, 1],
        "name": "src", "metrics": {},
    }
    return model


def test_a_rebuilt_model_is_a_new_model_with_the_same_weights_and_outputs():
    source = trained_looking_model()
    copy = models.rebuild(source)
    assert copy is not source
    for a, b in zip(source.weights, copy.weights):
        assert a.path == b.path
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    images = np.random.default_rng(2).integers(0, 256, (4, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(source.predict(images, verbose=0), copy.predict(images, verbose=0), rtol=1e-6)
    # the data it was trained on is carried; what describes the source model is not
    assert copy.keras_lt_config["class_names"] == ["r", "g", "b"]
    assert copy.keras_lt_config["train_class_counts"] == [5, 3, 1]
    assert "name" not in copy.keras_lt_config and "metrics" not in copy.keras_lt_config
    assert copy.keras_lt_config["architecture"] == source.keras_lt_config["architecture"]


def test_fresh_layers_and_added_layers_keep_their_new_initialisation():
    source = trained_looking_model()
    copy = models.rebuild(source, fresh=("classifier",), logit_scale=True)
    assert copy.keras_lt_config["architecture"]["logit_scale"] is True
    fresh = {v.path for v in copy.get_layer("classifier").weights}
    for variable in copy.get_layer("classifier").weights:
        kept = source.get_layer("classifier").get_weights()
        assert not any(np.array_equal(variable.numpy(), w) for w in kept)
    np.testing.assert_array_equal(copy.get_layer("logit_scale").get_weights()[0], np.ones(3))  # LWS starts at 1
    carried = {v.path: v for v in source.weights}
    for variable in copy.weights:
        if variable.path in carried and variable.path not in fresh:
            np.testing.assert_array_equal(variable.numpy(), carried[variable.path].numpy())


def test_a_model_without_a_keras_lt_architecture_is_refused_in_one_line():
    inputs = keras.Input((8, 8, 3))
    plain = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(inputs))
    with pytest.raises(KerasLTError, match="no keras-lt architecture") as error:
        models.rebuild(plain)
    assert "\n" not in str(error.value)
    with pytest.raises(KerasLTError, match="cannot rebuild architecture"):
        models.rebuild(trained_looking_model(), no_such_argument=1)
