"""`keras_lt.latent_usage`: the latent weights and winners of a model's regions, and their plot."""

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np
import pytest

from keras_lt import models
from keras_lt.errors import KerasLTError
from keras_lt.latent_usage import latent_assignments
from keras_lt.latent_usage import plot_latent_usage
from keras_lt.models.latent import latent_layer

LATENTS = 4
IMAGES = np.random.default_rng(3).integers(0, 256, (5, 8, 8, 3)).astype("uint8")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def model(tiny_architecture):
    """ResNet-8 on 8x8 images (a 2 x 2 feature map, channels first) with 4 latent categories."""
    keras.utils.set_random_seed(0)
    architecture = {"name": tiny_architecture, "num_classes": 3, "input_shape": [8, 8, 3], "latent_categories": LATENTS}
    return models.build(architecture)


def numpy_weights(model, images):
    """The reference `(N, h, w, M)` weights: per region, the softmax over the latents of sigmoid(g(P) . f), float64."""
    layer = latent_layer(model)
    features = keras.Model(model.input, layer.input).predict(images, verbose=0)  # (N, D, h, w)
    f = np.transpose(features, (0, 2, 3, 1)).astype(np.float64)
    pool, kernel, bias = (np.asarray(keras.ops.convert_to_numpy(v), np.float64)
                          for v in (layer.pool, layer.projection_kernel, layer.projection_bias))
    similarity = 1.0 / (1.0 + np.exp(-(f @ (pool @ kernel + bias).T)))  # sigmoid(g(P) . f) per region
    return np.exp(similarity) / np.exp(similarity).sum(-1, keepdims=True)


def test_the_weights_are_the_softmax_of_sigmoid_similarities_on_the_grid(model):
    expected = numpy_weights(model, IMAGES)
    weights, assignment = latent_assignments(model, IMAGES, batch_size=2)  # 3 forward passes: 2 2 1
    assert weights.shape == (5, 2, 2, LATENTS) and assignment.shape == (5, 2, 2)
    np.testing.assert_allclose(weights, expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(assignment, expected.argmax(-1))


def test_the_plot_draws_each_images_winners_and_their_shares(model, tmp_path):
    model.keras_lt_config = {**model.keras_lt_config, "train_class_counts": [50, 10, 2]}
    path = tmp_path / "usage.png"
    figure = plot_latent_usage(model, IMAGES[:2], [1, 2], ["ant", "bee", "cat"], str(path))
    assert path.read_bytes().startswith(PNG_SIGNATURE)
    assignment = numpy_weights(model, IMAGES[:2]).argmax(-1)  # the winners, from the NumPy reference
    titles = []
    for row in range(2):
        image, winners, usage = figure.axes[3 * row: 3 * row + 3]
        titles.append(image.get_title())
        assert [text.get_text() for text in winners.texts] == [str(a) for a in assignment[row].reshape(-1)]
        shares = np.bincount(assignment[row].reshape(-1), minlength=LATENTS) / 4  # of the 4 regions
        np.testing.assert_allclose([bar.get_height() for bar in usage.patches], shares)
    assert titles == ["bee (n=10)", "cat (n=2)"]  # the model's training counts
    figure = plot_latent_usage(model, IMAGES[:1], [0], ["ant", "bee", "cat"], str(path), class_counts=[7, 1, 1])
    assert figure.axes[0].get_title() == "ant (n=7)"


def test_a_model_without_latent_categories_is_refused(tiny_architecture):
    plain = models.build({"name": tiny_architecture, "num_classes": 3, "input_shape": [8, 8, 3]})
    with pytest.raises(KerasLTError, match="^this model has no latent categories"):
        latent_assignments(plain, IMAGES)
