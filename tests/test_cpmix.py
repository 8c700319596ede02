"""The CP-Mix regulariser: confusion counting, the stage-2 objective, the stage switch, resume, the recipes."""

import csv
import dataclasses
import json
import os

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np
import pytest
import torch

from keras_lt import hub
from keras_lt import run_directory
from keras_lt import training
from keras_lt.callbacks import CPMixStage
from keras_lt.callbacks import EpochSeeder
from keras_lt.data.pipeline import DeviceBatches
from keras_lt.errors import KerasLTError
from keras_lt.evaluation import top_confusion_pairs
from keras_lt.losses import BalancedSoftmax
from keras_lt.losses import KPSLoss
from keras_lt.models import cifar_resnet
from keras_lt.recipes import load_recipe
from keras_lt.trainers import SGD
from keras_lt.trainers import ConfusionPairMixing
from keras_lt.trainers import ERMTrainer
from keras_lt.trainers import cpmix
from keras_lt.training import build_trainer
from keras_lt.training_data import TrainingData
from interruption import interrupting_backup

COUNTS = (14, 7, 3)
TINY = "test_resnet8"  # registered by the tiny_architecture fixture (conftest.py)
pytestmark = pytest.mark.usefixtures("tiny_architecture")


def tiny_network(seed=0, num_classes=3):
    keras.utils.set_random_seed(seed)
    return cifar_resnet(8, num_classes, input_shape=(8, 8, 3))


def noise_data(counts=COUNTS, seed=0):
    """Random images (nothing to learn, so confusions keep coming) with a long-tailed label profile."""
    labels = np.repeat(np.arange(len(counts)), counts)
    images = np.random.default_rng(seed).integers(0, 256, (len(labels), 8, 8, 3), dtype=np.uint8)
    return images, labels


def cpmix_trainer(network, **settings):
    return ERMTrainer(network, regularizers=[ConfusionPairMixing(**settings)])


def confusion(trainer):
    return keras.ops.convert_to_numpy(trainer.regularizers[0].confusion)


def compiled(trainer, counts=COUNTS):
    trainer.compile(optimizer=SGD(0.05, momentum=0.9), loss=BalancedSoftmax(counts), metrics=["accuracy"])
    return trainer


def log_softmax(z):
    z = z - z.max(1, keepdims=True)
    return z - np.log(np.exp(z).sum(1, keepdims=True))


def test_counts_the_misclassified_pairs_of_each_batch():
    """A parameter-free stub network: the logits are the mean of each colour channel."""
    inputs = keras.Input((2, 2, 3))
    stub = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(inputs))
    trainer = cpmix_trainer(stub)
    trainer.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    predicted = np.array([0, 1, 2, 2, 0, 1, 1])
    labels = np.array([0, 2, 2, 1, 1, 1, 2])
    x = np.zeros((7, 2, 2, 3), "float32")
    x[np.arange(7), :, :, predicted] = 9.0
    expected = np.zeros((3, 3))
    expected[[2, 1, 1, 2], [1, 2, 0, 1]] = 1  # (true, predicted) of the four mistakes
    expected[2, 1] = 2

    loss, logits = trainer.training_loss(torch.tensor(x), torch.tensor(labels))
    np.testing.assert_array_equal(confusion(trainer), expected)
    np.testing.assert_allclose(  # stage 1: the compiled loss alone
        float(loss.detach()), -np.mean(log_softmax(np.eye(3)[predicted] * 9.0)[np.arange(7), labels]), rtol=1e-5
    )
    trainer.training_loss(torch.tensor(x), torch.tensor(labels))
    np.testing.assert_array_equal(confusion(trainer), 2 * expected)  # accumulates
    pairs = top_confusion_pairs(confusion(trainer), k=2, class_names=["a", "b", "c"])
    assert pairs == [{"true": "c", "predicted": "b", "count": 4}, {"true": "b", "predicted": "a", "count": 2}]


def recorded_mixes(monkeypatch):
    """Makes the trainer's `mix` record its inputs `(x_i, x_j, y_i, y_j, lam, lam_y)` as NumPy arrays."""
    calls = []
    original = cpmix.mix

    def recording_mix(*args):
        calls.append([keras.ops.convert_to_numpy(a) for a in args[:6]])
        return original(*args)

    monkeypatch.setattr(cpmix, "mix", recording_mix)
    return calls


def test_stage2_loss_is_erm_plus_eta_times_the_two_mixup_terms(monkeypatch):
    images, labels = noise_data()
    batches = DeviceBatches(images, labels, 3, batch_size=8, augment=False)
    trainer = compiled(cpmix_trainer(tiny_network(), rho=0.3, eta=0.5, mix_batch_size=5))
    trainer.regularizers[0].confusion.assign(np.array([[0, 5, 1], [2, 0, 0], [0, 0, 0]], "float32"))
    trainer.batches, trainer.regularizers[0].active, trainer.step_key = batches, True, (3, 1)
    calls = recorded_mixes(monkeypatch)
    x, y = batches[0]
    loss, _ = trainer.training_loss(x, y)

    x, y = x.numpy(), y.numpy()
    (cp_i, cp_j, anchors, partners, cp_lam, cp_lam_y), (mx_i, mx_j, my_i, my_j, mx_lam, mx_lam_y) = calls
    assert len(anchors) == 5 and len(my_i) == len(y) == 8
    assert np.all(anchors != partners)
    for image, c in zip(cp_i, anchors):  # one training image of the anchor's class (augment=False)
        assert np.any(np.all(images[labels == c] == image, axis=(1, 2, 3)))
    for image, c in zip(cp_j, partners):
        assert np.any(np.all(images[labels == c] == image, axis=(1, 2, 3)))
    np.testing.assert_array_equal(mx_i, x)
    np.testing.assert_array_equal(my_i, y)
    order = [int(np.flatnonzero(np.all(x == image, axis=(1, 2, 3)))[0]) for image in mx_j]
    assert sorted(order) == list(range(8))  # the batch paired with a permutation of itself
    np.testing.assert_array_equal(my_j, y[order])

    counts = np.array(COUNTS, "float64")
    reference = []
    for x_i, x_j, y_i, y_j, lam in ((cp_i, cp_j, anchors, partners, cp_lam), (mx_i, mx_j, my_i, my_j, mx_lam)):
        assert np.all((lam >= 0) & (lam <= 1)) and np.ptp(lam) > 0  # Beta(1, 1), one lam per pair
        lam_y = 0.7 * lam + 0.3 * counts[y_j] / (counts[y_i] + counts[y_j])
        w = lam[:, None, None, None]
        mixed = (w * x_i + (1 - w) * x_j).astype("float32")
        soft = lam_y[:, None] * np.eye(3)[y_i] + (1 - lam_y[:, None]) * np.eye(3)[y_j]
        reference.append((mixed, soft, lam_y))
    np.testing.assert_allclose(cp_lam_y, reference[0][2], rtol=1e-6)
    np.testing.assert_allclose(mx_lam_y, reference[1][2], rtol=1e-6)

    def logits_of(inputs):
        return keras.ops.convert_to_numpy(trainer.network(torch.tensor(inputs, dtype=torch.float32), training=True))

    erm = -np.mean(log_softmax(logits_of(x) + np.log(counts / counts.sum()))[np.arange(8), y])
    mixups = [-np.mean(np.sum(soft * log_softmax(logits_of(mixed)), 1)) for mixed, soft, _ in reference]
    np.testing.assert_allclose(float(loss.detach()), erm + 0.5 * sum(mixups), rtol=1e-5)



def test_on_a_cosine_head_the_mixup_terms_see_the_cosines_times_the_loss_scale(monkeypatch):
    """CP-Mix on KPS: the soft-label CE of each mixed batch is on `scale * cosines` (the published logits)."""
    images, labels = noise_data()
    batches = DeviceBatches(images, labels, 3, batch_size=8, augment=False)
    keras.utils.set_random_seed(0)
    network = cifar_resnet(8, 3, classifier="cosine", input_shape=(8, 8, 3))
    trainer = cpmix_trainer(network, rho=0.3, eta=0.5, mix_batch_size=5)
    trainer.compile(optimizer=SGD(0.05, momentum=0.9), loss=KPSLoss(COUNTS, scale=15.0))
    regularizer = trainer.regularizers[0]
    regularizer.confusion.assign(np.array([[0, 5, 1], [2, 0, 0], [0, 0, 0]], "float32"))
    trainer.batches, trainer.step_key = batches, (3, 1)
    calls = recorded_mixes(monkeypatch)
    x, y = batches[0]
    term = float(regularizer.mixing_loss(trainer, x, y).detach())

    expected = 0.0
    for x_i, x_j, y_i, y_j, lam, lam_y in calls:
        w = lam[:, None, None, None]
        mixed = torch.tensor(w * x_i + (1 - w) * x_j, dtype=torch.float32)
        cosines = keras.ops.convert_to_numpy(network(mixed, training=True)).astype("float64")
        assert np.all(np.abs(cosines) <= 1 + 1e-6)
        soft = lam_y[:, None] * np.eye(3)[y_i] + (1 - lam_y[:, None]) * np.eye(3)[y_j]
        expected += -np.mean(np.sum(soft * log_softmax(15.0 * cosines), 1))
    np.testing.assert_allclose(term, expected, rtol=1e-5)

def test_one_lam_per_mixed_batch_knob_and_reproducible_draws(monkeypatch):
    images, labels = noise_data()
    batches = DeviceBatches(images, labels, 3, batch_size=8)
    trainer = compiled(cpmix_trainer(tiny_network(), lam_per_sample=False))
    trainer.batches = batches
    calls = recorded_mixes(monkeypatch)
    x, y = batches[0]
    for key in ((0, 0), (0, 0), (0, 1)):
        trainer.step_key = key
        trainer.regularizers[0].mixing_loss(trainer, x, y)
    lams = [call[4] for call in calls]
    assert all(np.ptp(lam) == 0 for lam in lams)  # one lam for every pair of a mixed batch
    for first, again in zip(calls[0:2], calls[2:4]):  # the same key draws the same pairs and lam
        for a, b in zip(first, again):
            np.testing.assert_array_equal(a, b)
    assert lams[4][0] != lams[0][0]  # another step, other draws


def fit(trainer, batches, epochs, start_epoch, *more_callbacks):
    stage = CPMixStage(trainer.regularizers[0], start_epoch)
    return trainer.fit(
        batches, epochs=epochs, shuffle=False, verbose=0,
        callbacks=[EpochSeeder(batches), *trainer.epoch_callbacks(), stage, *more_callbacks],
    )


def test_stage_switches_at_the_configured_epoch_and_is_logged(monkeypatch):
    images, labels = noise_data()
    batches = DeviceBatches(images, labels, 3, batch_size=8)
    trainer = compiled(cpmix_trainer(tiny_network()))
    mixed_steps = []
    original = ConfusionPairMixing.mixing_loss

    def recording(self, trainer, x, y):
        mixed_steps.append(trainer.step_key)
        return original(self, trainer, x, y)

    monkeypatch.setattr(ConfusionPairMixing, "mixing_loss", recording)
    history = fit(trainer, batches, 3, 2).history
    assert history["cpmix"] == [0.0, 0.0, 1.0]
    assert mixed_steps == [(2, 0), (2, 1), (2, 2)]  # every step of stage 2, keyed by (epoch, step)
    assert history["confusions"] == sorted(history["confusions"]) and history["confusions"][0] > 0
    assert history["confusions"][-1] == float(confusion(trainer).sum())


def test_fit_needs_device_batches():
    trainer = compiled(cpmix_trainer(tiny_network()))
    images, labels = noise_data()
    with pytest.raises(KerasLTError, match="DeviceBatches") as error:
        trainer.fit(images, labels, epochs=1, verbose=0)
    assert "\n" not in str(error.value)


class ConfusionAtStart(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.confusion = confusion(self.model).copy()


def built_trainer(batches, seed):
    trainer = compiled(cpmix_trainer(tiny_network(seed)))
    trainer(batches[0][0][:1])
    trainer.optimizer.build(trainer.trainable_variables)
    return trainer


def test_resume_in_stage2_restores_the_confusions_and_continues_exactly(tmp_path):
    images, labels = noise_data()
    straight_batches = DeviceBatches(images, labels, 3, batch_size=8)
    straight = built_trainer(straight_batches, seed=0)
    fit(straight, straight_batches, 3, 1)

    backup = str(tmp_path / "backup")
    batches = DeviceBatches(images, labels, 3, batch_size=8)
    interrupted = built_trainer(batches, seed=0)
    with pytest.raises(KeyboardInterrupt):
        fit(interrupted, batches, 3, 1, interrupting_backup(1)(backup))
    saved = confusion(interrupted).copy()
    assert saved.sum() > 0

    batches = DeviceBatches(images, labels, 3, batch_size=8)
    resumed = built_trainer(batches, seed=7)  # other initial weights: everything comes from the backup
    assert float(confusion(resumed).sum()) == 0
    at_start = ConfusionAtStart()
    history = fit(resumed, batches, 3, 1, keras.callbacks.BackupAndRestore(backup), at_start).history
    np.testing.assert_array_equal(at_start.confusion, saved)  # the round trip keeps Q
    assert history["cpmix"] == [1.0]  # only epoch 2 ran, in stage 2
    final = confusion(resumed)
    assert final.sum() > saved.sum() and np.all(final >= saved)  # and Q kept growing
    np.testing.assert_array_equal(final, confusion(straight))
    for mine, theirs in zip(resumed.network.weights, straight.network.weights):
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-6, err_msg=mine.path)


def test_zoo_recipes_and_short30():
    for name, num_classes in (("cpmix-resnet32-cifar10lt", 10), ("cpmix-resnet32-cifar100lt", 100)):
        recipe = load_recipe(name)
        assert (recipe.method, recipe.loss, recipe.epochs, recipe.cpmix_epoch) == ("cpmix", "balanced_softmax", 300, 200)
        assert (recipe.milestones, recipe.factors, recipe.batch_size) == ([240, 270], [0.1, 0.01], 128)
        # METHODS.md's fine-tune: the classifier continues, 10 epochs, cosine from 0.01, wd 2e-4.
        assert recipe.finetune == {
            "method": "cpmix", "epochs": 10, "lr": 0.01, "momentum": 0.9, "weight_decay": 2e-4, "reinitialize": False,
        }
        short = recipe.scaled("short30")
        assert (short.epochs, short.cpmix_epoch, short.finetune["epochs"], short.finetune["lr"]) == (30, 20, 3, 0.01)
        assert recipe.finetune["epochs"] == 10  # scaling leaves the full recipe alone
        labels = np.repeat(np.arange(num_classes), 2)
        images = np.random.default_rng(0).integers(0, 256, (len(labels), 8, 8, 3), dtype=np.uint8)
        data = TrainingData(images, labels, images, labels, [str(c) for c in range(num_classes)])
        trainer, callbacks = build_trainer(dataclasses.replace(recipe, architecture=TINY), data, 7)
        (regularizer,) = trainer.regularizers
        assert isinstance(regularizer, ConfusionPairMixing) and trainer.mixer is None
        assert (regularizer.alpha, regularizer.rho, regularizer.eta, regularizer.mix_batch_size) == (1.0, 0.5, 1.0, None)
        stages = [c for c in callbacks if isinstance(c, CPMixStage)]
        assert len(stages) == 1 and stages[0].start_epoch == 200 and stages[0].cpmix is regularizer


def test_cifar100_recipe_runs_end_to_end_with_its_finetune(tmp_path):
    rng = np.random.default_rng(0)
    train_labels = np.concatenate([np.arange(100), np.arange(20)])  # 2 images of classes 0..19, 1 of the rest
    test_labels = np.arange(100)
    data = TrainingData(
        rng.integers(0, 256, (len(train_labels), 8, 8, 3), dtype=np.uint8), train_labels,
        rng.integers(0, 256, (100, 8, 8, 3), dtype=np.uint8), test_labels, [f"c{c}" for c in range(100)],
    )
    recipe = dataclasses.replace(
        load_recipe("cpmix-resnet32-cifar100lt"), architecture=TINY, epochs=2, batch_size=64,
        warmup_epochs=1, milestones=[1], factors=[0.1], cpmix_epoch=1,
    )
    recipe = dataclasses.replace(recipe, finetune={**recipe.finetune, "epochs": 1})
    out = str(tmp_path / "run")
    report = training.train(recipe, out, data=data, verbose=0)

    with open(os.path.join(out, run_directory.LOG_FILE)) as f:
        rows = list(csv.DictReader(f))
    assert [float(r["cpmix"]) for r in rows] == [0.0, 1.0]
    assert all(np.isfinite(float(r["loss"])) for r in rows)
    with open(os.path.join(out, run_directory.FINETUNE_LOG_FILE)) as f:
        assert len(list(csv.DictReader(f))) == 1
    with open(os.path.join(out, cpmix.SUMMARY_FILE)) as f:
        confusion = json.load(f)
    matrix = np.array(confusion["matrix"])
    assert matrix.shape == (100, 100) and matrix.sum() == float(rows[-1]["confusions"])
    assert confusion["top_pairs"] == top_confusion_pairs(matrix, cpmix.SUMMARY_PAIRS, data.class_names)
    with open(os.path.join(out, run_directory.PRE_FINETUNE_METRICS_FILE)) as f:
        assert json.load(f)["num_samples"] == 100
    model = hub.from_pretrained(out)
    assert model.keras_lt_config["recipe"]["finetune"] == recipe.finetune
    logits = keras.ops.convert_to_numpy(model.predict(data.test_images, verbose=0))
    assert report["top1"] == pytest.approx(100.0 * np.mean(logits.argmax(1) == test_labels))


def test_of_a_mixed_batch_only_a_prediction_of_neither_label_counts_against_the_dominant_one(monkeypatch):
    """With a mixer, an image predicted as its pasted / mixed-in class is no confusion (it was counted as one)."""
    inputs = keras.Input((2, 2, 3))
    stub = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(inputs))
    labels, second = np.array([0, 0, 1, 2, 2]), np.array([1, 2, 0, 1, 0])
    lam = np.array([0.7, 0.3, 0.5, 0.2, 0.9], "float32")
    predicted = np.array([1, 1, 2, 2, 1])  # partner, neither (dominant 2), neither (dominant 1), own, neither (dominant 2)

    class Fixed:  # a mixer whose "mixed" images are the stub's one-hot predictions
        def mix(self, trainer, x, y):
            images = np.zeros((5, 2, 2, 3), "float32")
            images[np.arange(5), :, :, predicted] = 9.0
            return torch.tensor(images), torch.tensor(second), torch.tensor(lam)

    trainer = ERMTrainer(stub, regularizers=[ConfusionPairMixing()])
    trainer.mixer = Fixed()
    trainer.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    trainer.training_loss(torch.zeros((5, 2, 2, 3)), torch.tensor(labels))
    expected = np.zeros((3, 3))
    expected[2, 1] = 2  # images 1 and 4: dominant 2 (lam 0.3 -> second; lam 0.9 -> first), predicted 1
    expected[1, 2] = 1  # image 2: lam 0.5 -> its first label 1, predicted 2
    np.testing.assert_array_equal(confusion(trainer), expected)
