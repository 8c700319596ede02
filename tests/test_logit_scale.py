"""LogitScale (LWS): identity at initialisation, per-class scaling, trainable, serialisable."""

import keras
import numpy as np
import pytest

from keras_lt.layers import LogitScale


def test_identity_at_init_then_per_class_scale():
    layer = LogitScale(4)
    logits = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(logits)), logits)
    assert [w.name for w in layer.trainable_weights] == ["scale"]
    factors = np.array([0.5, 1.0, 2.0, 3.0], "float32")
    layer.scale.assign(factors)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(logits)), logits * factors, rtol=1e-6)


def test_rejects_wrong_number_of_classes():
    with pytest.raises(ValueError, match="LogitScale"):
        LogitScale(5)(np.zeros((2, 4), "float32"))


def test_serialisation_round_trip(tmp_path):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, LogitScale(4, name="lws")(inputs))
    model.get_layer("lws").scale.assign(np.array([1.0, 2.0, 3.0, 4.0], "float32"))
    path = tmp_path / "lws.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    x = np.ones((2, 4), "float32")
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0))
    assert restored.get_layer("lws").get_config()["units"] == 4
