"""NormedLinear against a NumPy cosine similarity; the LDAM-DRW unit-norm init; serialisation."""

import keras
import numpy as np

from keras_lt.layers import NormedLinear


def cosine(x, w):
    """cos(x_i, w[:, j]) in float64."""
    x = x.astype(np.float64)
    w = w.astype(np.float64)
    return (x @ w) / np.linalg.norm(x, axis=1, keepdims=True) / np.linalg.norm(w, axis=0, keepdims=True)


def numpy(x):
    return (x.value if isinstance(x, keras.Variable) else x).detach().cpu().numpy()


def test_equals_cosine_similarity():
    rng = np.random.default_rng(0)
    layer = NormedLinear(5)
    x = rng.normal(size=(7, 12)).astype("float32") * rng.uniform(0.01, 100, size=(7, 1)).astype("float32")
    layer.build(x.shape)
    w = rng.normal(size=(12, 5)).astype("float32") * np.array([0.1, 1, 3, 10, 50], "float32")
    layer.kernel.assign(w)
    out = numpy(layer(x))
    assert out.shape == (7, 5) and layer.compute_output_shape((None, 12)) == (None, 5)
    np.testing.assert_allclose(out, cosine(x, w), atol=1e-6)
    assert np.all(np.abs(out) <= 1.0 + 1e-6)


def test_ldam_init_unit_norm_columns():
    keras.utils.set_random_seed(0)
    layer = NormedLinear(40)
    layer.build((None, 64))
    assert [v.name for v in layer.trainable_weights] == ["kernel"]
    w = numpy(layer.kernel)
    assert w.shape == (64, 40)
    np.testing.assert_allclose(np.linalg.norm(w, axis=0), 1.0, rtol=1e-5)
    assert abs(w.mean()) < 0.01 and len(np.unique(w)) == w.size


def test_config_round_trip_and_saving(tmp_path):
    layer = NormedLinear(3, epsilon=1e-9, name="cos")
    config = layer.get_config()
    assert (config["units"], config["epsilon"]) == (3, 1e-9)
    assert NormedLinear.from_config(config).get_config() == config
    inputs = keras.Input((4,))
    model = keras.Model(inputs, NormedLinear(3, name="cos")(inputs))
    model.save(tmp_path / "cos.keras")
    restored = keras.saving.load_model(tmp_path / "cos.keras")
    assert isinstance(restored.get_layer("cos"), NormedLinear)
    x = np.random.default_rng(1).normal(size=(2, 4)).astype("float32")
    np.testing.assert_allclose(numpy(restored(x)), numpy(model(x)), atol=1e-6)
    np.testing.assert_allclose(numpy(model(x)), cosine(x, numpy(model.get_layer("cos").kernel)), atol=1e-6)


def test_scale_multiplies_the_cosines_and_round_trips():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 6)).astype("float32")
    layer = NormedLinear(3, scale=30.0)
    layer.build(x.shape)
    np.testing.assert_allclose(numpy(layer(x)), 30.0 * cosine(x, numpy(layer.kernel)), rtol=1e-5, atol=1e-5)
    assert NormedLinear.from_config(layer.get_config()).scale == 30.0


def test_under_mixed_float16_a_zero_feature_row_gives_zero_cosines_not_nan():
    """A ReLU network's all-zero features: the epsilon 1e-12 is 0 in float16, and 0 / 0 was NaN."""
    rng = np.random.default_rng(0)
    layer = NormedLinear(4, dtype="mixed_float16")
    x = np.concatenate([np.zeros((1, 6)), rng.normal(size=(2, 6))]).astype("float16")
    layer.build(x.shape)
    out = numpy(layer(x))
    assert str(out.dtype) == "float16" and np.isfinite(out).all()
    np.testing.assert_array_equal(out[0], 0.0)
    np.testing.assert_allclose(out[1:], cosine(x[1:], numpy(layer.kernel)), atol=2e-3)  # float16's precision
