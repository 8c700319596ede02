"""The architecture registry: recorded arguments rebuild the model; unknown names are one-line errors."""

import keras
import pytest

from keras_lt.errors import KerasLTError
from keras_lt.models import registry


@pytest.fixture
def tiny(monkeypatch):
    """A registered "tiny" architecture, removed after the test."""
    monkeypatch.setattr(registry, "ARCHITECTURES", dict(registry.ARCHITECTURES))

    @registry.register_architecture("tiny")
    def tiny(num_classes, input_shape=(3,), hidden=(4, 5), **options):
        """A tiny MLP."""
        inputs = keras.Input(input_shape)
        x = inputs
        for units in hidden:
            x = keras.layers.Dense(units, use_bias=options.get("bias", True))(x)
        return keras.Model(inputs, keras.layers.Dense(num_classes)(x))

    return tiny


def test_arguments_are_recorded_as_json(tiny):
    model = tiny(2, hidden=(6,), bias=False, extra=(1, 2))
    expected = {"name": "tiny", "num_classes": 2, "input_shape": [3], "hidden": [6], "bias": False, "extra": [1, 2]}
    assert model.keras_lt_config == {"architecture": expected}
    assert tiny.__doc__ == "A tiny MLP." and tiny.__name__ == "tiny"


def test_build_rebuilds_the_recorded_model(tiny):
    model = tiny(num_classes=3, bias=False)
    rebuilt = registry.build(model.keras_lt_config["architecture"])
    assert [w.shape for w in rebuilt.weights] == [w.shape for w in model.weights]
    assert rebuilt.keras_lt_config == model.keras_lt_config
    assert registry.ARCHITECTURES["tiny"] is tiny


def test_a_name_argument_would_shadow_the_architecture(tiny):
    with pytest.raises(TypeError, match="takes no 'name' argument"):
        tiny(2, name="mine")
    with pytest.raises(TypeError, match="may not take a 'name' argument"):

        @registry.register_architecture("named")
        def named(num_classes, name="x"): ...


def test_unknown_architecture_is_one_line(tiny):
    with pytest.raises(KerasLTError, match=r"unknown architecture 'vgg'; known: .*tiny") as error:
        registry.build({"name": "vgg", "num_classes": 2})
    assert isinstance(error.value, ValueError) and "\n" not in str(error.value)
    with pytest.raises(KerasLTError, match="unknown architecture 'None'"):
        registry.build({"num_classes": 2})


def test_an_output_scale_multiplies_the_cosines_and_none_takes_it_off():
    import numpy as np

    model = registry.build({"name": "resnet32", "num_classes": 3, "input_shape": [8, 8, 3], "classifier": "cosine",
                            "output_scale": 30.0})
    images = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3)).astype("uint8")
    scaled = model.predict(images, verbose=0)
    assert model.keras_lt_config["architecture"]["output_scale"] == 30.0
    registry.set_output_scale(model, None)
    np.testing.assert_allclose(model.predict(images, verbose=0) * 30.0, scaled, rtol=1e-5, atol=1e-5)
    assert "output_scale" not in model.keras_lt_config["architecture"]
    assert np.abs(model.predict(images, verbose=0)).max() <= 1.0 + 1e-6  # bare cosines
