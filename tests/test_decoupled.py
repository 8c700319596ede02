"""Decoupled stage 2 (cRT, LWS, tau-norm): what changes, what stays bit-identical, and the CLI."""

import json
import os

import keras
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import keras_lt
from keras_lt.cli.decouple import decouple as decouple_command
from keras_lt.errors import KerasLTError
from keras_lt.trainers import ClassifierRetrainer
from keras_lt.trainers import decouple
from keras_lt.trainers.decoupled import train_head

COUNTS = (48, 15, 5)
TINY = "test_resnet8"  # registered by the tiny_architecture fixture (conftest.py)
pytestmark = pytest.mark.usefixtures("tiny_architecture")


def tiny_network(classifier="linear"):
    """The tiny ResNet with non-trivial BN statistics and classifier bias."""
    keras.utils.set_random_seed(1)
    network = keras_lt.models.build({"name": TINY, "num_classes": 3, "classifier": classifier})
    rng = np.random.default_rng(1)
    for layer in network.layers:
        if hasattr(layer, "moving_mean"):
            layer.moving_mean.assign(rng.normal(0, 0.1, layer.moving_mean.shape))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, layer.moving_variance.shape))
    if classifier == "linear":
        network.get_layer("classifier").bias.assign(rng.normal(0, 1, 3))
    return network


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), COUNTS)
    return rng.integers(0, 256, (len(labels), 8, 8, 3), dtype=np.uint8), labels


def weights(model):
    return {v.path: np.array(v.numpy()) for v in model.weights}


def assert_same_except(model, reference, changed_layer):
    """Every weight of `model` equals `reference`'s bit for bit, except those of `changed_layer`."""
    mine, theirs = weights(model), weights(reference)
    kept = [path for path in mine if not path.startswith(f"{changed_layer}/")]
    assert kept and all(path in theirs for path in kept)
    for path in kept:
        np.testing.assert_array_equal(mine[path], theirs[path], err_msg=path)


def test_crt_retrains_only_a_reinitialised_classifier_on_class_balanced_batches(data, monkeypatch):
    images, labels = data
    network = tiny_network()
    before = weights(network)
    seen = []
    original_loss = ClassifierRetrainer.training_loss

    def recording_loss(self, x, y, sample_weight=None):
        seen.append(keras.ops.convert_to_numpy(y))
        return original_loss(self, x, y, sample_weight)

    monkeypatch.setattr(ClassifierRetrainer, "training_loss", recording_loss)
    args = dict(images=images, labels=labels, epochs=2, batch_size=32, seed=3, verbose=0)
    crt = decouple(network, "crt", lr=0.1, **args)
    shares = np.bincount(np.concatenate(seen), minlength=3) / sum(map(len, seen))
    assert shares.min() > 0.2 and shares.max() < 0.47  # instance sampling would give class 0 ~0.71

    assert_same_except(crt, network, "classifier")  # backbone and BN statistics untouched
    for path, value in weights(network).items():  # the input model is untouched
        np.testing.assert_array_equal(value, before[path])
    initial = decouple(network, "crt", lr=0.0, **args)  # lr 0: the re-initialised classifier as it starts
    fresh = weights(initial)
    assert not np.allclose(fresh["classifier/kernel"], before["classifier/kernel"])
    np.testing.assert_array_equal(fresh["classifier/bias"], np.zeros(3))
    assert not np.allclose(weights(crt)["classifier/kernel"], fresh["classifier/kernel"])  # and it trained
    assert crt.keras_lt_config["decoupling"]["sampler"] == "class_balanced"
    assert all(layer.trainable for layer in crt.layers)


class Stop(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        raise KeyboardInterrupt


def test_a_stopped_head_training_leaves_the_model_trainable(data):
    """A Ctrl-C (or an error) in the fit still gives the caller's model back as `from_pretrained` gives it."""
    images, labels = data
    model = tiny_network()
    settings = dict(batch_size=32, sampler="class_balanced", seed=0, lr=0.1, epochs=1, momentum=0.9, weight_decay=0.0)
    with pytest.raises(KeyboardInterrupt):
        train_head(model, ["classifier"], images, labels, settings, [Stop()], 0, None)
    assert all(layer.trainable for layer in model.layers)
    assert {v.path for v in model.trainable_weights} == {v.path for v in tiny_network().trainable_weights}


def test_tau_norm_equals_numpy_formula(data):
    images, _ = data
    network = tiny_network()
    kernel = network.get_layer("classifier").kernel.numpy()
    tau = 0.7
    expected = kernel / np.linalg.norm(kernel, axis=0, keepdims=True) ** tau
    normalised = decouple(network, "tau-norm", tau=tau)
    head = normalised.get_layer("classifier")
    np.testing.assert_allclose(head.kernel.numpy(), expected, rtol=1e-6)
    np.testing.assert_array_equal(head.bias.numpy(), np.zeros(3))  # bias dropped, as Kang's tau_norm.py
    features = keras.Model(network.input, network.get_layer("pool").output).predict(images, verbose=0)
    np.testing.assert_allclose(normalised.predict(images, verbose=0), features @ expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(network.get_layer("classifier").kernel.numpy(), kernel)
    with pytest.raises(KerasLTError, match="no-op on a cosine classifier"):
        decouple(tiny_network("cosine"), "tau-norm")


def test_lws_trains_only_the_scale_and_round_trips(data, tmp_path):
    images, labels = data
    network = tiny_network()
    lws = decouple(network, "lws", images, labels, epochs=2, batch_size=32, lr=0.5, verbose=0)
    assert lws.keras_lt_config["architecture"]["logit_scale"] is True
    scale = lws.get_layer("logit_scale").scale.numpy()
    assert not np.allclose(scale, 1.0)
    assert_same_except(lws, network, "logit_scale")
    reference = network.predict(images, verbose=0) * scale
    np.testing.assert_allclose(lws.predict(images, verbose=0), reference, rtol=1e-5, atol=1e-5)

    keras_lt.save_pretrained(lws, tmp_path / "lws", class_names=["a", "b", "c"], train_class_counts=COUNTS)
    restored = keras_lt.from_pretrained(str(tmp_path / "lws"))
    np.testing.assert_array_equal(restored.predict(images, verbose=0), lws.predict(images, verbose=0))


def write_image_folder(root, counts):
    rng = np.random.default_rng(0)
    for split, per_class in (("train", counts), ("test", (2, 2, 2))):
        for name, count in zip("abc", per_class):
            os.makedirs(root / split / name)
            for i in range(count):
                pixels = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / name / f"{i}.png")


def test_cli_decouple_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_LT_CACHE", str(tmp_path / "cache"))
    write_image_folder(tmp_path / "data", (12, 6, 3))
    names = ["a", "b", "c"]
    keras_lt.save_pretrained(tiny_network(), tmp_path / "base", class_names=names, train_class_counts=(12, 6, 3))
    common = ["--data-dir", str(tmp_path / "data"), "--dataset", "folder", "--imbalance-factor", "0"]

    result = CliRunner().invoke(
        decouple_command,
        [str(tmp_path / "base"), "--method", "crt", *common, "--epochs", "1", "--output", str(tmp_path / "crt")],
    )
    assert result.exit_code == 0, result.output
    assert f"checkpoint: {tmp_path / 'crt'}" in result.output
    with open(tmp_path / "crt" / "config.json") as f:
        config = json.load(f)
    recipe = config["recipe"]
    assert (recipe["method"], recipe["epochs"], recipe["sampler"]) == ("crt", 1, "class_balanced")
    assert recipe["name"] == "base-crt" and recipe["base_model"] == str(tmp_path / "base")
    assert config["train_class_counts"] == [12, 6, 3] and config["metrics"]["num_samples"] == 6
    assert os.path.isfile(tmp_path / "crt" / "train_log.csv")
    assert keras_lt.from_pretrained(str(tmp_path / "crt")).predict(np.zeros((1, 8, 8, 3)), verbose=0).shape == (1, 3)

    keras_lt.save_pretrained(tiny_network("cosine"), tmp_path / "cosine", class_names=names)
    result = CliRunner().invoke(decouple_command, [str(tmp_path / "cosine"), "--method", "tau-norm", *common])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].startswith("Error: tau-norm is a no-op")
