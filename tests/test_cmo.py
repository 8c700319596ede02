"""The CMO mixer: the foreground sampler, the mixed loss, the window, exact resume, the recipes."""

import dataclasses

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np
import pytest
import torch

from keras_lt.callbacks import CMOWindow
from keras_lt.callbacks import StepKey
from keras_lt.callbacks import EpochSeeder
from keras_lt.data.pipeline import DeviceBatches
from keras_lt.errors import KerasLTError
from keras_lt.losses import BalancedSoftmax
from keras_lt.models import cifar_resnet
from keras_lt.recipes import load_recipe
from keras_lt.trainers import SGD
from keras_lt.trainers import WarmupMultiStep
from keras_lt.trainers import CMO
from keras_lt.trainers import ERMTrainer
from keras_lt.training import build_trainer
from keras_lt.training_data import TrainingData
from interruption import interrupting_backup

COUNTS = (40, 12, 4)
TINY = "test_resnet8"  # registered by the tiny_architecture fixture (conftest.py)
pytestmark = pytest.mark.usefixtures("tiny_architecture")


def noise_data(counts=COUNTS, seed=0):
    labels = np.repeat(np.arange(len(counts)), counts)
    images = np.random.default_rng(seed).integers(0, 256, (len(labels), 8, 8, 3), dtype=np.uint8)
    return images, labels


def stub_network():
    """Parameter-free: the logits are the mean of each colour channel (3 classes)."""
    inputs = keras.Input((8, 8, 3))
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(inputs))


def tiny_network(seed=0):
    keras.utils.set_random_seed(seed)
    return cifar_resnet(8, len(COUNTS), input_shape=(8, 8, 3))


def cmo_trainer(network, **settings):
    return ERMTrainer(network, mixer=CMO(**settings))


def compiled(trainer, counts=COUNTS):
    trainer.compile(optimizer=SGD(0.05, momentum=0.9), loss=BalancedSoftmax(counts), metrics=["accuracy"])
    return trainer


def balanced_softmax(logits, labels, counts=COUNTS):
    z = logits + np.log(np.asarray(counts) / np.sum(counts))
    z = z - z.max(1, keepdims=True)
    return -(z - np.log(np.exp(z).sum(1, keepdims=True)))[np.arange(len(labels)), labels]


def test_the_foreground_sampler_draws_images_with_weights_one_over_n():
    """CMO's WeightedRandomSampler: image i drawn with weight 1 / n_{y_i}, with replacement."""
    images, labels = noise_data()
    batches = DeviceBatches(images, labels, 3, batch_size=8, augment=False)
    draws = 60000
    foreground, classes = CMO().foreground_batch(batches, draws, torch.Generator().manual_seed(0))
    frequencies = np.bincount(classes.numpy(), minlength=3) / draws
    image_weights = 1.0 / np.asarray(COUNTS)[labels]  # the reference's per-sample weights
    expected = np.bincount(labels, weights=image_weights / image_weights.sum(), minlength=3)
    sigma = np.sqrt(expected * (1 - expected) / draws)
    assert np.all(np.abs(frequencies - expected) < 4 * sigma), (frequencies, expected)
    # the images are training images of the drawn classes (no augmentation here)
    index = [np.flatnonzero((images == f).all((1, 2, 3)))[0] for f in foreground[:200].numpy()]
    np.testing.assert_array_equal(labels[index], classes[:200].numpy())


def test_the_inverse_frequency_knob_draws_classes_with_probability_one_over_n():
    """The issue's literal reading, kept as a knob: class c drawn with probability proportional to 1 / n_c."""
    images, labels = noise_data()
    batches = DeviceBatches(images, labels, 3, batch_size=8, augment=False)
    draws = 60000
    _, classes = CMO(foreground_sampler="inverse_frequency").foreground_batch(batches, draws, torch.Generator().manual_seed(1))
    frequencies = np.bincount(classes.numpy(), minlength=3) / draws
    expected = (1.0 / np.asarray(COUNTS)) / np.sum(1.0 / np.asarray(COUNTS))
    sigma = np.sqrt(expected * (1 - expected) / draws)
    assert np.all(np.abs(frequencies - expected) < 4 * sigma), (frequencies, expected)


def keyed_losses(trainer, x, y, keys):
    out = []
    for key in keys:
        trainer.step_key = key
        out.append(float(trainer.training_loss(x, y)[0].detach()))
    return np.array(out)


def test_training_loss_mixes_half_the_batches_inside_the_window_reproducibly():
    images, labels = noise_data()
    trainer = compiled(cmo_trainer(stub_network()))
    trainer.batches = DeviceBatches(images, labels, 3, batch_size=8)
    x, y = trainer.batches[0]
    erm = float(keras.ops.convert_to_numpy(trainer.compute_loss(y=y, y_pred=trainer(x))))
    keys = [(e, s) for e in range(20) for s in range(10)]
    trainer.mixer.active = False
    np.testing.assert_allclose(keyed_losses(trainer, x, y, keys[:5]), erm, rtol=1e-6)  # outside the window
    trainer.mixer.active = True
    losses = keyed_losses(trainer, x, y, keys)
    mixed = ~np.isclose(losses, erm, rtol=1e-6, atol=0)
    assert abs(mixed.mean() - 0.5) < 0.1  # probability 0.5 per batch (200 keys)
    np.testing.assert_array_equal(keyed_losses(trainer, x, y, keys[:20]), losses[:20])  # keyed draws
    trainer.step_key = None
    with pytest.raises(KerasLTError, match="StepKey"):
        trainer.training_loss(x, y)


def test_window_is_inclusive_and_logged():
    images, labels = noise_data()
    batches = DeviceBatches(images, labels, 3, batch_size=16)
    trainer = compiled(cmo_trainer(tiny_network(), window=(1, 2), probability=1.0))
    assert [type(c) for c in trainer.epoch_callbacks()] == [StepKey, CMOWindow]
    history = trainer.fit(
        batches, epochs=4, shuffle=False, verbose=0, callbacks=[EpochSeeder(batches), *trainer.epoch_callbacks()]
    ).history
    assert history["cmo"] == [0.0, 1.0, 1.0, 0.0]
    assert np.all(np.isfinite(history["loss"]))


def test_resume_mixes_exactly_what_an_uninterrupted_run_mixes(tmp_path):
    images, labels = noise_data()

    def fit(seed, *callbacks):
        batches = DeviceBatches(images, labels, 3, batch_size=16, augment="autoaugment", cutout_length=4)
        trainer = compiled(cmo_trainer(tiny_network(seed), window=(0, 1)))
        trainer(batches[0][0][:1])
        trainer.optimizer.build(trainer.trainable_variables)
        trainer.fit(
            batches, epochs=2, shuffle=False, verbose=0,
            callbacks=[EpochSeeder(batches), *trainer.epoch_callbacks(), *callbacks],
        )
        return trainer

    straight = fit(0)
    backup = str(tmp_path / "backup")
    with pytest.raises(KeyboardInterrupt):
        fit(0, interrupting_backup(0)(backup))
    resumed = fit(5, keras.callbacks.BackupAndRestore(backup))  # other weights: all comes from the backup
    for mine, theirs in zip(resumed.network.weights, straight.network.weights):
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-6, err_msg=mine.path)


def test_fit_needs_device_batches():
    trainer = compiled(cmo_trainer(stub_network()))
    images, labels = noise_data()
    with pytest.raises(KerasLTError, match="DeviceBatches"):
        trainer.fit(images.astype("float32"), labels, epochs=1, verbose=0)


def test_config_round_trip():
    trainer = cmo_trainer(stub_network(), probability=0.25, alpha=0.5, window=(2, 9), lam_per_sample=True)
    config = keras.saving.serialize_keras_object(trainer.mixer)["config"]
    assert (config["probability"], config["alpha"], config["window"], config["lam_per_sample"]) == (0.25, 0.5, [2, 9], True)
    again = ERMTrainer.from_config(trainer.get_config())
    assert isinstance(again.mixer, CMO) and again.mixer.get_config() == trainer.mixer.get_config()
    with pytest.raises(ValueError):
        CMO(window=(5, 2))


def paco_adjust_learning_rate(epoch, lr=0.1):
    """naver-ai/cmo `cifar_train.py`'s schedule of the --use_randaug (400-epoch) runs, copied (0-based epoch)."""
    warmup_epochs = 10
    if epoch <= warmup_epochs:
        return lr / warmup_epochs * (epoch + 1)
    elif epoch > 360:
        return lr * 0.01
    elif epoch > 320:
        return lr * 0.1
    return lr


def adjust_learning_rate(epoch, lr=0.1):
    """naver-ai/cmo `cifar_train.py`'s schedule of the 200-epoch runs, copied (0-based epoch)."""
    epoch = epoch + 1
    if epoch <= 5:
        return lr * epoch / 5
    elif epoch > 180:
        return lr * 0.0001
    elif epoch > 160:
        return lr * 0.01
    return lr


@pytest.mark.parametrize(
    "name, num_classes, epochs, window, augment, official",
    [
        ("cmo-resnet32-cifar10lt", 10, 200, [4, 196], "crop_flip", adjust_learning_rate),
        ("cmo-resnet32-cifar100lt", 100, 200, [4, 196], "crop_flip", adjust_learning_rate),
        ("cmo-aa-resnet32-cifar10lt", 10, 400, [4, 396], "paco", paco_adjust_learning_rate),
        ("cmo-aa-resnet32-cifar100lt", 100, 400, [4, 396], "paco", paco_adjust_learning_rate),
    ],
)
def test_zoo_recipes_and_short30(name, num_classes, epochs, window, augment, official):
    recipe = load_recipe(name)
    assert (recipe.method, recipe.loss, recipe.epochs, recipe.augment) == ("cmo", "balanced_softmax", epochs, augment)
    assert (recipe.batch_size, recipe.lr, recipe.weight_decay) == (128, 0.1, 2e-4) and recipe.method_config["window"] == window
    # the schedule, epoch by epoch and at every step, is the official function's
    steps = 7
    schedule = WarmupMultiStep(recipe.lr, steps, recipe.warmup_epochs, recipe.milestones, recipe.factors)
    expected = [official(epoch) for epoch in range(epochs)]
    np.testing.assert_allclose([schedule.epoch_lr(epoch) for epoch in range(epochs)], expected, rtol=1e-12)
    per_step = keras.ops.convert_to_numpy(schedule(np.arange(epochs * steps)))
    np.testing.assert_allclose(per_step, np.repeat(expected, steps), rtol=1e-6)
    assert recipe.ingredients() == {"mixer": {"name": "cmo", **recipe.method_config}, "regularizers": [], "loss_weight": 1.0}
    short = recipe.scaled("short30")
    assert short.method_config["window"] == [1, 27] and recipe.method_config["window"] == window
    assert short.method_config["probability"] == 0.5 and short.augment == augment
    labels = np.repeat(np.arange(num_classes), 2)
    images = np.random.default_rng(0).integers(0, 256, (len(labels), 8, 8, 3), dtype=np.uint8)
    data = TrainingData(images, labels, images, labels, [str(c) for c in range(num_classes)])
    trainer, callbacks = build_trainer(dataclasses.replace(short, architecture=TINY), data, 7)
    assert isinstance(trainer.mixer, CMO) and trainer.mixer.window == (1, 27)
    windows = [c for c in callbacks if isinstance(c, CMOWindow)]
    assert len(windows) == 1 and (windows[0].start_epoch, windows[0].last_epoch) == (1, 27)
