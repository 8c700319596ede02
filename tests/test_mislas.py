"""MiSLAS stage 2: two learning rates, what stays frozen, shift learning, continuation, the recipe end to end."""

import csv
import dataclasses
import os

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np
import pytest
import torch

from keras_lt import hub
from keras_lt import models
from keras_lt.errors import KerasLTError
from keras_lt import run_directory
from keras_lt import training
from keras_lt.losses import LabelAwareSmoothing
from keras_lt.recipes import load_recipe
from keras_lt.trainers import CosineToZero
from keras_lt.trainers import SGD
from keras_lt.trainers import STAGE2
from keras_lt.trainers import MiSLASRetrainer
from keras_lt.trainers import mislas
from keras_lt.training_data import TrainingData

TINY = "test_resnet8"  # registered by the tiny_architecture fixture (conftest.py)
pytestmark = pytest.mark.usefixtures("tiny_architecture")
COUNTS = (12, 6, 2)


def stage1(seed=0, **extra):
    keras.utils.set_random_seed(seed)
    return models.build({"name": TINY, "num_classes": 3, **extra})


def data(seed=0):
    labels = np.repeat(np.arange(3), COUNTS)
    images = np.random.default_rng(seed).integers(0, 256, (len(labels), 8, 8, 3), dtype=np.uint8)
    return images, labels


def snapshot(model):
    return {v.path: v.numpy().copy() for v in model.weights}


def first_batch(trainer):
    """The first 8 training images and labels, with the trainer set to step without compiled metrics."""
    images, labels = data()
    trainer.compute_metrics = lambda *args: {}  # no metrics compiled
    return torch.tensor(images[:8]), torch.tensor(labels[:8])


def gradients(trainer, x, y):
    """The gradients of the first step by variable path, from a pass that changes nothing but the BN statistics."""
    loss, _ = trainer.training_loss(x, y)
    variables = trainer.trainable_weights
    return dict(zip([v.path for v in variables], torch.autograd.grad(loss, [v.value for v in variables])))


@pytest.mark.parametrize("shift_bn", [False, True])
def test_each_group_gets_its_learning_rate_and_the_rest_stays(shift_bn):
    network = stage1(logit_scale=True)
    trainer = MiSLASRetrainer(network, shift_bn=shift_bn)
    base, factor, wd = 0.1, 0.2, 1e-3
    trainer.compile(
        optimizer=SGD(base * factor, momentum=0.9, weight_decay=wd),
        scale_optimizer=SGD(base, momentum=0.9, weight_decay=wd),
        loss=LabelAwareSmoothing(COUNTS, 0.4, 0.1),
    )
    x, y = first_batch(trainer)
    trained = {v.path for v in trainer.trainable_weights}
    assert trained == {"classifier/kernel", "classifier/bias", "logit_scale/scale"}
    grads = gradients(trainer, x, y)
    before = snapshot(network)
    trainer.train_step((x, y))
    after = snapshot(network)
    for path, grad in grads.items():  # first step: w -= lr * (grad + wd * w)
        lr = base if path.startswith("logit_scale") else base * factor
        np.testing.assert_allclose(before[path] - after[path], lr * (grad.numpy() + wd * before[path]), rtol=1e-4, atol=1e-7)
    for path in before:
        if path in grads:
            continue
        moving = "moving_" in path
        if moving and shift_bn:
            assert not np.array_equal(before[path], after[path]), path  # re-estimated on the batch
        else:
            np.testing.assert_array_equal(before[path], after[path], err_msg=path)  # frozen (gamma, beta, convs)
    trainer.release()
    assert all(v.trainable for v in network.weights if "moving_" not in v.path)


def test_one_shared_optimizer_steps_once_per_batch():
    """`scale_optimizer=None`: both groups take the same step at the schedule's rate of that step."""
    trainer = MiSLASRetrainer(stage1(logit_scale=True), shift_bn=False)
    base, steps, wd = 0.1, 4, 1e-3
    trainer.compile(
        optimizer=SGD(CosineToZero(base, steps), momentum=0.9, weight_decay=wd), loss=LabelAwareSmoothing(COUNTS),
    )
    x, y = first_batch(trainer)
    grads = gradients(trainer, x, y)
    before = snapshot(trainer.network)
    trainer.train_step((x, y))
    after = snapshot(trainer.network)
    assert int(trainer.optimizer.iterations) == 1
    lr = base * (1 + np.cos(np.pi * 0 / steps)) / 2  # step 0 of the cosine, for the head and the scale alike
    for path, grad in grads.items():  # first step: w -= lr * (grad + wd * w)
        np.testing.assert_allclose(before[path] - after[path], lr * (grad.numpy() + wd * before[path]), rtol=1e-4, atol=1e-7)
    for _ in range(2):
        trainer.train_step((x, y))
    assert int(trainer.optimizer.iterations) == 3


def test_the_retrainer_shares_the_classifier_retrainers_checks_and_round_trips_its_config():
    with pytest.raises(KerasLTError, match="no layer logit_scale to train.*logit_scale=True") as error:
        MiSLASRetrainer(stage1())
    assert "\n" not in str(error.value)
    trainer = MiSLASRetrainer(stage1(logit_scale=True), shift_bn=False)
    again = MiSLASRetrainer.from_config(trainer.get_config())
    assert again.shift_bn is False
    assert [v.path for v in again.trainable_weights] == [v.path for v in trainer.trainable_weights]


def test_classifier_continues_and_scale_starts_at_one():
    network = stage1()
    images, labels = data()
    # lr 0 and no BN shift: nothing moves
    model = mislas(network, images, labels, epochs=1, lr=0.0, batch_size=8, shift_bn=False, verbose=0)
    assert model is not network and model.keras_lt_config["architecture"]["logit_scale"]
    np.testing.assert_array_equal(model.get_layer("logit_scale").scale.numpy(), np.ones(3))
    new, old = snapshot(model), snapshot(network)
    assert set(new) == set(old) | {"logit_scale/scale"}
    for path, value in old.items():
        np.testing.assert_array_equal(new[path], value, err_msg=path)
    assert model.keras_lt_config["mislas"]["lr_factor"] == 0.2 and STAGE2["mislas"] is mislas
    np.testing.assert_allclose(model.predict(images, verbose=0), network.predict(images, verbose=0), rtol=1e-5)


def test_cifar100_recipe_runs_end_to_end_with_stage2(tmp_path):
    rng = np.random.default_rng(0)
    train_labels = np.concatenate([np.arange(100), np.arange(20)])
    data_ = TrainingData(
        rng.integers(0, 256, (len(train_labels), 8, 8, 3), dtype=np.uint8), train_labels,
        rng.integers(0, 256, (100, 8, 8, 3), dtype=np.uint8), np.arange(100), [f"c{c}" for c in range(100)],
    )
    recipe = dataclasses.replace(
        load_recipe("mislas-resnet32-cifar100lt"), architecture=TINY, epochs=2, batch_size=64,
        warmup_epochs=1, milestones=[1], factors=[0.1],
    )
    recipe = dataclasses.replace(recipe, finetune={**recipe.finetune, "epochs": 1})
    out = str(tmp_path / "run")
    report = training.train(recipe, out, data=data_, verbose=0)
    with open(os.path.join(out, run_directory.LOG_FILE)) as f:
        assert all(np.isfinite(float(r["loss"])) for r in csv.DictReader(f))
    with open(os.path.join(out, run_directory.FINETUNE_LOG_FILE)) as f:
        assert len(list(csv.DictReader(f))) == 1
    model = hub.from_pretrained(out)
    assert model.keras_lt_config["architecture"]["logit_scale"] is True
    logits = model.predict(data_.test_images, verbose=0)
    assert report["top1"] == pytest.approx(100 * np.mean(logits.argmax(1) == data_.test_labels))


# MiSLAS' own stage-2 configs (dvlab-research/MiSLAS, config/cifar{10,100}/cifar*_imb{001,002,01}_stage2_mislas.yaml),
# copied here: imb_factor -> (smooth_head, smooth_tail, lr_factor, shift_bn).
OFFICIAL_STAGE2 = {
    "cifar10": {0.01: (0.3, 0.0, 0.5, False), 0.02: (0.2, 0.0, 0.2, False), 0.1: (0.1, 0.0, 0.2, False)},
    "cifar100": {0.01: (0.4, 0.1, 0.2, True), 0.02: (0.3, 0.0, 0.1, True), 0.1: (0.2, 0.0, 0.1, True)},
}


@pytest.mark.parametrize("dataset", ["cifar10", "cifar100"])
@pytest.mark.parametrize("imb_factor", [0.01, 0.02, 0.1])
def test_settings_are_mislas_configs(dataset, imb_factor):
    from keras_lt.trainers import mislas_settings

    head, tail, lr_factor, shift_bn = OFFICIAL_STAGE2[dataset][imb_factor]
    expected = {"eps_head": head, "eps_tail": tail, "lr_factor": lr_factor, "shift_bn": shift_bn}
    assert mislas_settings(dataset, round(1 / imb_factor)) == expected


def test_defaults_are_one_datasets_settings():
    """`mislas` and `MiSLASRetrainer` default to CIFAR-100-LT IF100's config, every knob of it."""
    import inspect

    head, tail, lr_factor, shift_bn = OFFICIAL_STAGE2["cifar100"][0.01]
    defaults = {k: p.default for k, p in inspect.signature(mislas).parameters.items()}
    assert (defaults["eps_head"], defaults["eps_tail"], defaults["lr_factor"], defaults["shift_bn"]) == (
        head, tail, lr_factor, shift_bn)
    assert inspect.signature(MiSLASRetrainer).parameters["shift_bn"].default is shift_bn
    assert (defaults["epochs"], defaults["lr"], defaults["batch_size"], defaults["weight_decay"]) == (10, 0.1, 128, 2e-4)


def test_the_recipes_use_mislas_settings_for_their_dataset_and_imbalance():
    for name in ("mislas-resnet32-cifar10lt", "mislas-resnet32-cifar100lt", "lcreg-resnet32-cifar10lt", "lcreg-resnet32-cifar100lt"):
        recipe = load_recipe(name)
        head, tail, lr_factor, shift_bn = OFFICIAL_STAGE2[recipe.dataset][1 / recipe.imbalance_factor]
        settings = {k: recipe.finetune[k] for k in ("eps_head", "eps_tail", "lr_factor", "shift_bn")}
        assert settings == {"eps_head": head, "eps_tail": tail, "lr_factor": lr_factor, "shift_bn": shift_bn}, name
        assert (recipe.finetune["lr"], recipe.finetune["epochs"], recipe.finetune["weight_decay"]) == (0.1, 10, 2e-4)


def test_unknown_settings_are_one_line():
    from keras_lt.trainers import mislas_settings

    with pytest.raises(KerasLTError, match="no MiSLAS settings for cifar10 IF200") as error:
        mislas_settings("cifar10", 200)
    assert "\n" not in str(error.value)
