"""The Mixup mixer (MiSLAS stage 1): the mixed batch, the two-label loss, keyed draws, the MiSLAS recipes."""

import dataclasses

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np
import pytest
import torch

from keras_lt.callbacks import EpochSeeder
from keras_lt.callbacks import StepKey
from keras_lt.data.pipeline import DeviceBatches
from keras_lt.errors import KerasLTError
from keras_lt.models import cifar_resnet
from keras_lt.random_keys import MIXUP_STREAM
from keras_lt.recipes import load_recipe
from keras_lt.trainers import SGD
from keras_lt.trainers import ERMTrainer
from keras_lt.trainers import Mixup
from keras_lt.training import build_trainer
from keras_lt.training_data import TrainingData

pytestmark = pytest.mark.usefixtures("tiny_architecture")


def stub_trainer(**kwargs):
    """A parameter-free network: the logits are the mean of each of the 4 channels."""
    inputs = keras.Input((2, 2, 4))
    trainer = ERMTrainer(keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(inputs)), mixer=Mixup(**kwargs))
    trainer.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return trainer


def expected_lam(seed, key, size):
    sequences = np.random.SeedSequence(seed, spawn_key=(*key, MIXUP_STREAM)).spawn(2)
    return np.random.default_rng(sequences[1]).beta(1.0, 1.0, size)


def ce(logits, labels):
    z = logits - logits.max(1, keepdims=True)
    return -(z[np.arange(len(labels)), labels] - np.log(np.exp(z).sum(1)))


@pytest.mark.parametrize("per_sample", [False, True])
def test_mixed_batch_and_loss_follow_the_key(per_sample):
    trainer = stub_trainer(lam_per_sample=per_sample, seed=3)
    x = torch.tensor(np.random.default_rng(0).integers(0, 256, (6, 2, 2, 4)), dtype=torch.uint8)
    y = torch.arange(6) % 4
    with pytest.raises(KerasLTError, match="StepKey"):
        trainer.mixer.mix(trainer, x, y)
    trainer.step_key = (2, 5)
    images, partners, lam = trainer.mixer.mix(trainer, x, y)
    lam = lam.numpy()
    np.testing.assert_allclose(lam, np.broadcast_to(expected_lam(3, (2, 5), 6 if per_sample else 1), (6,)), rtol=1e-6)
    # The partner of image i is image perm(i): find it from the mixture, check its label.
    xf = x.numpy().astype(np.float64)
    for i in range(6):
        candidates = [j for j in range(6) if np.allclose(images[i].numpy(), lam[i] * xf[i] + (1 - lam[i]) * xf[j], atol=1e-3)]
        assert candidates and int(partners[i]) in {int(y[j]) for j in candidates}
    again = trainer.mixer.mix(trainer, x, y)
    np.testing.assert_array_equal(again[0].numpy(), images.numpy())  # same key, same draws
    trainer.step_key = (2, 6)
    assert not np.array_equal(trainer.mixer.mix(trainer, x, y)[0].numpy(), images.numpy())

    trainer.step_key = (2, 5)
    loss, logits = trainer.training_loss(x, y)
    logits = logits.detach().numpy()
    np.testing.assert_allclose(logits, images.numpy().mean(axis=(1, 2)), rtol=1e-5)
    expected = np.mean(lam * ce(logits, y.numpy()) + (1 - lam) * ce(logits, partners.numpy()))
    np.testing.assert_allclose(float(loss.detach()), expected, rtol=1e-5)


def fit_tiny(seed_weights=0, epochs=2):
    keras.utils.set_random_seed(seed_weights)
    labels = np.repeat(np.arange(3), [10, 5, 2])
    images = np.random.default_rng(0).integers(0, 256, (len(labels), 8, 8, 3), dtype=np.uint8)
    batches = DeviceBatches(images, labels, 3, batch_size=8, seed=4)
    trainer = ERMTrainer(cifar_resnet(8, 3, input_shape=(8, 8, 3)), mixer=Mixup())
    trainer.compile(optimizer=SGD(0.05, momentum=0.9), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    callbacks = trainer.epoch_callbacks()
    assert any(isinstance(c, StepKey) for c in callbacks)
    trainer.fit(batches, epochs=epochs, shuffle=False, verbose=0, callbacks=[EpochSeeder(batches), *callbacks])
    assert trainer.batches.seed == 4  # the batches' seed keys the draws (step_generators)
    return trainer


def test_fit_is_reproducible():
    first, second = fit_tiny(), fit_tiny()
    for a, b in zip(first.network.weights, second.network.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


def test_mislas_recipes_and_short30():
    # MiSLAS' stage-2 configs: CIFAR-10 IF100 lr_factor 0.5, CIFAR-100 IF100 0.2.
    expected = {
        "mislas-resnet32-cifar10lt": (10, 0.3, 0.0, False, 0.5), "mislas-resnet32-cifar100lt": (100, 0.4, 0.1, True, 0.2),
    }
    for name, (num_classes, eps_head, eps_tail, shift_bn, lr_factor) in expected.items():
        recipe = load_recipe(name)
        assert (recipe.method, recipe.loss, recipe.epochs, recipe.batch_size, recipe.lr) == ("mixup", "ce", 200, 128, 0.1)
        assert (recipe.weight_decay, recipe.warmup_epochs, recipe.milestones, recipe.factors) == (2e-4, 5, [160, 180], [0.1, 0.01])
        assert recipe.method_config == {"alpha": 1.0, "lam_per_sample": False}
        finetune = recipe.finetune
        assert (finetune["method"], finetune["epochs"], finetune["lr"], finetune["lr_factor"]) == ("mislas", 10, 0.1, lr_factor)
        assert (finetune["eps_head"], finetune["eps_tail"], finetune["shift_bn"]) == (eps_head, eps_tail, shift_bn)
        assert recipe.scaled("short30").finetune["epochs"] == 3
        labels = np.repeat(np.arange(num_classes), 2)
        images = np.zeros((len(labels), 8, 8, 3), np.uint8)
        data = TrainingData(images, labels, images, labels, [str(c) for c in range(num_classes)])
        trainer, callbacks = build_trainer(dataclasses.replace(recipe, architecture="test_resnet8"), data, 7)
        assert isinstance(trainer.mixer, Mixup) and trainer.mixer.alpha == 1.0 and not trainer.mixer.lam_per_sample
        assert trainer.regularizers == ()
        assert [c for c in callbacks if isinstance(c, StepKey)][0].trainer is trainer


def test_mixup_round_trips_its_config():
    mixer = Mixup(alpha=0.2, lam_per_sample=True, seed=5)
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(mixer))
    assert isinstance(again, Mixup) and again.get_config() == {"alpha": 0.2, "lam_per_sample": True, "seed": 5}
    with pytest.raises(ValueError, match="alpha"):
        Mixup(alpha=0.0)
