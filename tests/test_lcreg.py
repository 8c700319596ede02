"""LCReg (Mixup + LatentReconstruction + LatentISDA, the "lcreg" preset): the stage-1 objective, the covariance state and its resume, the ramp, the recipes, the CLI on a checkpoint."""

import csv
import dataclasses
import json
import os

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from keras_lt import hub
from keras_lt import run_directory
from keras_lt import training
from keras_lt.callbacks import EpochSeeder
from keras_lt.callbacks import ISDARamp
from keras_lt.cli.main import cli
from keras_lt.data.pipeline import DeviceBatches
from keras_lt.errors import KerasLTError
from keras_lt.layers import LatentCategoryReconstruction
from keras_lt.models import cifar_resnet
from keras_lt.models.latent import training_view
from keras_lt.recipes import load_recipe
from keras_lt.trainers import SGD
from keras_lt.trainers import ERMTrainer
from keras_lt.trainers import LatentISDA
from keras_lt.trainers import LatentReconstruction
from keras_lt.trainers import Mixup
from keras_lt.training import build_trainer
from keras_lt.training_data import TrainingData
from interruption import interrupting_backup
from test_latent_isda import latent_isda_reference

TINY = "test_resnet8"  # registered by the tiny_architecture fixture (conftest.py)
pytestmark = pytest.mark.usefixtures("tiny_architecture")
CLASSES = ["ant", "bee", "cat"]
COUNTS = (12, 6, 2)


def lcreg_trainer(seed=0, latent_categories=4, reduction="mean"):
    keras.utils.set_random_seed(seed)
    trainer = ERMTrainer(
        cifar_resnet(8, 3, input_shape=(8, 8, 3)), mixer=Mixup(),
        regularizers=[LatentReconstruction(latent_categories, reduction=reduction), LatentISDA()],
    )
    trainer.compile(
        optimizer=SGD(0.05, momentum=0.9), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return trainer


def noise(seed=0):
    labels = np.repeat(np.arange(3), COUNTS)
    return np.random.default_rng(seed).integers(0, 256, (len(labels), 8, 8, 3), dtype=np.uint8), labels


def log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def spread(logits):
    """Standard deviation over the batch (population), averaged over the classes."""
    return np.mean(np.std(logits, axis=0))


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_objective_is_the_weighted_sum_and_the_covariance_follows_the_assignment(reduction):
    trainer = lcreg_trainer(reduction=reduction)
    layer = trainer.latent
    assert isinstance(layer, LatentCategoryReconstruction) and layer.num_latents == 4
    images, labels = noise()
    x, y = torch.tensor(images[:8]), torch.tensor(labels[:8])
    trainer.step_key = (1, 0)
    trainer.regularizers[1].isda_lambda = 0.3
    loss, logits = trainer.training_loss(x, y)

    mixed, partners, lam = trainer.mixer.mix(trainer, x, y)  # the same key: the same draws
    out_logits, f, f_hat, weights = (t.detach().numpy() for t in training_view(trainer.network)(mixed, training=True))
    np.testing.assert_allclose(logits.detach().numpy(), out_logits, rtol=1e-4, atol=1e-5)
    lam = lam.numpy()
    lp = log_softmax(out_logits.astype(np.float64))
    cls = np.mean(-lam * lp[np.arange(8), y.numpy()] - (1 - lam) * lp[np.arange(8), partners.numpy()])
    recon = float(layer.reconstruction_loss(torch.tensor(f), torch.tensor(f_hat), reduction))
    features = np.transpose(f, (0, 2, 3, 1)).reshape(-1, f.shape[1]).astype(np.float64)
    assignment = np.transpose(weights, (0, 2, 3, 1)).reshape(-1, 4).argmax(1)
    covariance = np.zeros((4, f.shape[1], f.shape[1]))
    for m in np.unique(assignment):
        covariance[m] = np.cov(features[assignment == m], rowvar=False, bias=True)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(trainer.estimator.covariance), covariance, rtol=1e-3, atol=1e-4)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(trainer.estimator.count), np.bincount(assignment, minlength=4))
    aug = latent_isda_reference(layer, covariance, 0.3)
    np.testing.assert_allclose(float(loss.detach()), 0.1 * aug + 0.1 * recon + cls, rtol=1e-4)
    # the diagnostic: the classifier on GAP(f^) (the latent branch) and on GAP(f), across the batch
    kernel, bias = (v.numpy().astype(np.float64) for v in trainer.network.get_layer("classifier").weights)
    latent_spread = spread(f_hat.astype(np.float64).mean((2, 3)) @ kernel + bias)
    feature_spread = spread(f.astype(np.float64).mean((2, 3)) @ kernel + bias)
    np.testing.assert_allclose(float(trainer.latent_spread_tracker.result()), latent_spread, rtol=1e-4)
    np.testing.assert_allclose(float(trainer.feature_spread_tracker.result()), feature_spread, rtol=1e-4)


def test_network_checks():
    with pytest.raises(KerasLTError, match="latent_categories"):
        ERMTrainer(cifar_resnet(8, 3, input_shape=(8, 8, 3)), regularizers=[LatentReconstruction()])
    with pytest.raises(KerasLTError, match="latent ISDA needs latent categories"):
        ERMTrainer(cifar_resnet(8, 3, input_shape=(8, 8, 3)), regularizers=[LatentISDA()])
    trainer = lcreg_trainer()
    again = ERMTrainer(trainer.network, regularizers=[LatentReconstruction()])  # already has the layer: kept
    assert again.network is trainer.network and again.latent.num_latents == 4
    with pytest.raises(KerasLTError, match="latent categories"):
        ERMTrainer(trainer.network, regularizers=[LatentReconstruction(5)])


def fit(trainer, batches, epochs, *more):
    return trainer.fit(
        batches, epochs=epochs, shuffle=False, verbose=0,
        callbacks=[EpochSeeder(batches), *trainer.epoch_callbacks(), *more],
    )


def built(batches, seed):
    trainer = lcreg_trainer(seed)
    trainer(batches[0][0][:1])
    trainer.optimizer.build(trainer.trainable_variables)
    return trainer


def ramp(steps_per_epoch, epochs, lam0=0.5):
    """LCReg's `lambda = (t / T) x lambda_0`, t the 0-based iteration, T the total iterations."""
    total = steps_per_epoch * epochs
    return [lam0 * t / total for t in range(total)]


def test_ramp_is_per_step_logged_and_resume_restores_the_covariances_exactly(tmp_path, monkeypatch):
    images, labels = noise()  # 20 images, batch 8: 3 steps per epoch
    batches = DeviceBatches(images, labels, 3, batch_size=8)
    straight = built(batches, 0)
    seen = []
    original = LatentISDA.latent_aug_loss
    monkeypatch.setattr(LatentISDA, "latent_aug_loss", lambda self: seen.append(self.isda_lambda) or original(self))
    history = fit(straight, batches, 3).history
    assert seen == pytest.approx(ramp(3, 3))
    assert history["isda_lambda"] == pytest.approx(ramp(3, 3)[2::3])  # each epoch's last step
    keys = ("cls_loss", "recon_loss", "latent_aug_loss", "latent_logit_spread", "feature_logit_spread")
    assert all(np.isfinite(history[k]).all() for k in keys)
    assert any(isinstance(c, ISDARamp) for c in straight.epoch_callbacks())

    backup = str(tmp_path / "backup")
    batches = DeviceBatches(images, labels, 3, batch_size=8)
    with pytest.raises(KeyboardInterrupt):
        fit(built(batches, 0), batches, 3, interrupting_backup(1)(backup))
    batches = DeviceBatches(images, labels, 3, batch_size=8)
    resumed = built(batches, 7)  # other weights, empty covariances: all comes from the backup
    seen.clear()
    history = fit(resumed, batches, 3, keras.callbacks.BackupAndRestore(backup)).history
    assert seen == pytest.approx(ramp(3, 3)[6:]) and history["isda_lambda"] == pytest.approx([ramp(3, 3)[-1]])
    for state in ("count", "mean", "covariance"):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(getattr(resumed.estimator, state)),
            keras.ops.convert_to_numpy(getattr(straight.estimator, state)), rtol=1e-4, atol=1e-6,
        )
    for mine, theirs in zip(resumed.network.weights, straight.network.weights):
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=1e-4, atol=1e-6, err_msg=mine.path)


def test_zoo_recipes():
    for name, num_classes, m in (("lcreg-resnet32-cifar10lt", 10, 40), ("lcreg-resnet32-cifar100lt", 100, 50)):
        recipe = load_recipe(name)
        assert (recipe.method, recipe.epochs, recipe.milestones, recipe.weight_decay) == ("lcreg", 200, [160, 180], 2e-4)
        assert recipe.finetune["method"] == "mislas" and recipe.finetune["shift_bn"] == (num_classes == 100)
        labels = np.repeat(np.arange(num_classes), 2)
        images = np.zeros((len(labels), 8, 8, 3), np.uint8)
        data = TrainingData(images, labels, images, labels, [str(c) for c in range(num_classes)])
        trainer, callbacks = build_trainer(dataclasses.replace(recipe, architecture=TINY), data, 7)
        reconstruction, isda = trainer.regularizers
        assert isinstance(trainer.mixer, Mixup) and trainer.mixer.alpha == 1.0 and trainer.loss_weight == 1.0
        assert isinstance(reconstruction, LatentReconstruction) and isinstance(isda, LatentISDA)
        assert trainer.latent.num_latents == m and trainer.network.keras_lt_config["architecture"]["fusion"] == "residual"
        assert (isda.weight, reconstruction.weight, isda.lam0) == (0.1, 0.1, 0.5)
        assert reconstruction.reduction == recipe.method_config["recon_reduction"] == "mean"
        assert [c for c in callbacks if isinstance(c, ISDARamp)][0].isda is isda


def write_png(path, seed):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(path)
    return str(path)


def test_recipe_end_to_end_then_evaluate_and_predict_from_the_cli(tmp_path):
    rng = np.random.default_rng(0)
    train_labels = np.repeat(np.arange(3), [30, 10, 4])
    data = TrainingData(
        rng.integers(0, 256, (len(train_labels), 8, 8, 3), dtype=np.uint8), train_labels,
        rng.integers(0, 256, (6, 8, 8, 3), dtype=np.uint8), np.repeat(np.arange(3), 2), CLASSES,
    )
    recipe = dataclasses.replace(
        load_recipe("lcreg-resnet32-cifar10lt"), architecture=TINY, epochs=2, batch_size=16,
        warmup_epochs=1, milestones=[1], factors=[0.1], method_config={"latent_categories": 6},
    )
    recipe = dataclasses.replace(recipe, finetune={**recipe.finetune, "epochs": 1})
    out = str(tmp_path / "run")
    report = training.train(recipe, out, data=data, verbose=0)
    with open(os.path.join(out, run_directory.LOG_FILE)) as f:
        rows = list(csv.DictReader(f))
    assert [float(r["isda_lambda"]) for r in rows] == pytest.approx(ramp(3, 2)[2::3])  # 44 images, batch 16
    assert all(float(r["latent_logit_spread"]) >= 0 and float(r["feature_logit_spread"]) > 0 for r in rows)
    model = hub.from_pretrained(out)
    architecture = model.keras_lt_config["architecture"]
    assert (architecture["latent_categories"], architecture["fusion"], architecture["logit_scale"]) == (6, "residual", True)
    logits = model.predict(data.test_images, verbose=0)
    assert report["top1"] == pytest.approx(100 * np.mean(logits.argmax(1) == data.test_labels))

    folder = tmp_path / "data"
    paths = [write_png(folder / "test" / name / f"{i}.png", 10 * c + i) for c, name in enumerate(CLASSES) for i in range(2)]
    runner = CliRunner()
    result = runner.invoke(cli, ["evaluate", out, "--dataset", "folder", "--data-dir", str(folder), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["num_samples"] == 6
    result = runner.invoke(cli, ["predict", out, *paths[:2], "--format", "json", "--top-k", 1])
    assert result.exit_code == 0, result.output
    predictions = json.loads(result.stdout)
    pixels = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths[:2]])
    expected = model.predict(pixels, verbose=0).argmax(1)
    assert [p["predictions"][0]["class"] for p in predictions] == [CLASSES[k] for k in expected]
