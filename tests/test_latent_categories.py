"""LatentCategoryReconstruction against NumPy, its serialisation, models with latent categories."""

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np
import pytest

from keras_lt import hub
from keras_lt import models
from keras_lt.errors import KerasLTError
from keras_lt.layers import LatentCategoryReconstruction
from keras_lt.models.latent import latent_layer
from keras_lt.models.latent import training_view


def numpy_reference(layer, f_nhwc):
    """Eq. 1-4 written out per image and position, in float64."""
    pool, wg, bg, wh, bh = (np.asarray(v.numpy(), np.float64) for v in (
        layer.pool, layer.projection_kernel, layer.projection_bias, layer.latent_kernel, layer.latent_bias))
    latents = pool @ wg + bg  # g(P): (M, D)
    b, h, w, d = f_nhwc.shape
    weights = np.zeros((b, h, w, len(latents)))
    recon = np.zeros_like(f_nhwc, dtype=np.float64)
    for i in range(b):
        for a in range(h):
            for c in range(w):
                s = 1.0 / (1.0 + np.exp(-(latents @ f_nhwc[i, a, c])))  # S_m(a, b)
                s_hat = np.exp(s) / np.exp(s).sum()
                weights[i, a, c] = s_hat
                recon[i, a, c] = (s_hat[:, None] * latents).sum(0)
    losses = np.zeros((b, h * w))  # eq. 4's terms, per image and position
    for i in range(b):
        f = f_nhwc[i].reshape(-1, d)
        f_hat = recon[i].reshape(-1, d)
        corr = f_hat @ f.T  # C = f^T f, row j: f^(j) . f(k)
        for j in range(len(corr)):
            row = corr[j] - corr[j].max()
            losses[i, j] = -(row[j] - np.log(np.exp(row).sum()))
    return recon, weights, losses, latents @ wh + bh


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_reconstruction_weights_loss_and_latent_logits_match_numpy(data_format):
    rng = np.random.default_rng(0)
    f = rng.normal(0, 0.7, (2, 2, 3, 5)).astype("float32")  # (B, H, W, D): 6 positions, D = 5
    keras.utils.set_random_seed(1)
    layer = LatentCategoryReconstruction(4, data_format=data_format)
    x = f if data_format == "channels_last" else np.transpose(f, (0, 3, 1, 2))
    reconstruction, weights = layer(x)
    loss = layer.reconstruction_loss(x, reconstruction)
    expected_recon, expected_weights, expected_terms, expected_logits = numpy_reference(layer, f.astype(np.float64))
    reconstruction, weights = keras.ops.convert_to_numpy(reconstruction), keras.ops.convert_to_numpy(weights)
    if data_format == "channels_first":
        assert reconstruction.shape == (2, 5, 2, 3) and weights.shape == (2, 4, 2, 3)
        reconstruction, weights = np.transpose(reconstruction, (0, 2, 3, 1)), np.transpose(weights, (0, 2, 3, 1))
    np.testing.assert_allclose(reconstruction, expected_recon, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(weights, expected_weights, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loss), expected_terms.mean(), rtol=1e-5)
    # eq. 4's literal sum over the positions, averaged over the images
    summed = layer.reconstruction_loss(x, layer(x)[0], reduction="sum")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(summed), expected_terms.sum(1).mean(), rtol=1e-5)
    with pytest.raises(ValueError, match="reduction must be one of mean, sum"):
        layer.reconstruction_loss(x, layer(x)[0], reduction="max")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.latent_logits()), expected_logits, rtol=1e-5, atol=1e-6)
    assignment = keras.ops.convert_to_numpy(layer.assignment(layer(x)[1]))
    np.testing.assert_array_equal(assignment, expected_weights.argmax(-1))


def test_config_round_trip_and_serialisation():
    layer = LatentCategoryReconstruction(7, data_format="channels_first", name="latents")
    x = np.random.default_rng(0).normal(size=(1, 3, 2, 2)).astype("float32")
    reconstruction, _ = layer(x)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(clone, LatentCategoryReconstruction)
    assert (clone.num_latents, clone.data_format, clone.name) == (7, "channels_first", "latents")
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(clone(x)[0]), keras.ops.convert_to_numpy(reconstruction))
    with pytest.raises(ValueError):
        LatentCategoryReconstruction(0)


def build(fusion="residual", **extra):
    keras.utils.set_random_seed(0)
    return models.build({"name": "resnet32", "num_classes": 3, "input_shape": [8, 8, 3],
                         "latent_categories": 5, "fusion": fusion, **extra})


@pytest.mark.parametrize("fusion", ["residual", "replace"])
def test_model_classifies_the_fused_features(fusion):
    model = build(fusion)
    assert model.keras_lt_config["architecture"]["latent_categories"] == 5
    images = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3)).astype("uint8")
    logits, f, f_hat, weights = (keras.ops.convert_to_numpy(t) for t in training_view(model)(images))
    pooled = (f + f_hat if fusion == "residual" else f_hat).mean(axis=(2, 3))
    classifier = model.get_layer("classifier")
    expected = pooled @ classifier.kernel.numpy() + classifier.bias.numpy()
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model.predict(images, verbose=0), logits, rtol=1e-5, atol=1e-6)
    assert weights.shape == (2, 5, 2, 2)


def test_checkpoint_round_trip_keeps_the_latent_layer_and_old_configs_still_build(tmp_path):
    model = build(logit_scale=True)
    images = np.random.default_rng(1).integers(0, 256, (3, 8, 8, 3)).astype("uint8")
    hub.save_pretrained(model, str(tmp_path / "ckpt"), class_names=["a", "b", "c"], train_class_counts=[9, 3, 1])
    loaded = hub.from_pretrained(str(tmp_path / "ckpt"))
    assert isinstance(latent_layer(loaded), LatentCategoryReconstruction)
    np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0), rtol=1e-5)
    plain = models.build({"name": "resnet32", "num_classes": 3, "input_shape": [8, 8, 3]})
    assert latent_layer(plain) is None and "latent_categories" not in plain.keras_lt_config["architecture"]
    with pytest.raises(KerasLTError, match="fusion"):
        build("concat")
