"""Tests keras_lt.trainers.erm: ERMTrainer's step against a torch step, learning, exact resume, its ingredients."""

import json
import os

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from keras_lt.callbacks import EpochSeeder
from keras_lt.data.pipeline import DeviceBatches
from keras_lt.errors import KerasLTError
from keras_lt.losses import BalancedSoftmax
from keras_lt.models import cifar_resnet
from keras_lt.trainers import SGD
from keras_lt.trainers import ConfusionPairMixing
from keras_lt.trainers import ERMTrainer
from keras_lt.trainers import Ingredient
from keras_lt.trainers import Mixup
from keras_lt.trainers import WarmupMultiStep
from interruption import interrupting_backup

NUM_CLASSES = 3


def tiny_network(seed=0):
    keras.utils.set_random_seed(seed)
    return cifar_resnet(8, NUM_CLASSES, input_shape=(8, 8, 3))


def toy_data(n=24, seed=0):
    """Images whose dominant colour channel is the label, plus noise: learnable in a few steps."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % NUM_CLASSES
    images = rng.integers(0, 60, size=(n, 8, 8, 3))
    images[np.arange(n), :, :, labels] += 180
    return images.astype("uint8"), labels.astype("int64")


def compiled_trainer(network, learning_rate, weight_decay=5e-3):
    trainer = ERMTrainer(network)
    trainer.compile(
        optimizer=SGD(learning_rate, momentum=0.9, weight_decay=weight_decay),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return trainer


def test_train_steps_equal_a_manual_torch_step():
    """Two steps (lr 0.05 then 0.1): torch cross-entropy, autograd, torch.optim.SGD by hand."""
    images, labels = toy_data(12)
    x, y = torch.tensor(images, dtype=torch.float32), torch.tensor(labels)
    network, reference = tiny_network(), tiny_network(1)
    reference.set_weights(network.get_weights())
    schedule = WarmupMultiStep(0.1, steps_per_epoch=1, warmup_epochs=2)
    trainer = compiled_trainer(network, schedule)

    params = [v.value for v in reference.trainable_weights]
    optimizer = torch.optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=5e-3)
    for lr in (0.05, 0.1):
        logs = trainer.train_on_batch(images, labels, return_dict=True)
        optimizer.param_groups[0]["lr"] = lr
        optimizer.zero_grad()
        loss = F.cross_entropy(reference(x, training=True), y)
        loss.backward()
        optimizer.step()
        if lr == 0.05:
            assert logs["loss"] == pytest.approx(loss.item(), rel=1e-5)

    assert len(network.weights) == len(reference.weights)
    for actual, expected in zip(network.weights, reference.weights):  # BN moving stats included
        assert actual.path == expected.path
        np.testing.assert_allclose(actual.numpy(), expected.numpy(), rtol=1e-4, atol=1e-6)


def test_sample_weights_reach_the_loss():
    """`fit(class_weight=...)` / weighted batches: loss = sum(w * ce) / N, as written here in torch."""
    images, labels = toy_data(12)
    weights = np.array([2.0, 0.0, 1.0], "float32")[labels]
    network, reference = tiny_network(), tiny_network(1)
    reference.set_weights(network.get_weights())
    trainer = compiled_trainer(network, 0.1)
    logs = trainer.train_on_batch(images, labels, sample_weight=weights, return_dict=True)

    params = [v.value for v in reference.trainable_weights]
    optimizer = torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=5e-3)
    logits = reference(torch.tensor(images, dtype=torch.float32), training=True)
    per_sample = F.cross_entropy(logits, torch.tensor(labels), reduction="none")
    loss = (torch.tensor(weights) * per_sample).sum() / len(labels)
    loss.backward()
    optimizer.step()
    assert logs["loss"] == pytest.approx(loss.item(), rel=1e-5)
    for actual, expected in zip(network.trainable_weights, reference.trainable_weights):
        np.testing.assert_allclose(actual.numpy(), expected.numpy(), rtol=1e-4, atol=1e-6)


def test_fit_reduces_the_loss():
    images, labels = toy_data(24)
    trainer = compiled_trainer(tiny_network(), 0.05)
    batches = DeviceBatches(images, labels, NUM_CLASSES, batch_size=8, augment=False)
    history = trainer.fit(batches, epochs=4, callbacks=[EpochSeeder(batches)], verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.7 * losses[0]
    assert history.history["accuracy"][-1] > 0.5


def run(backup_dir, epochs, interrupt_at=None):
    """A fresh, seeded trainer fit with deterministic batches and a per-epoch backup."""
    images, labels = toy_data(24)
    keras.utils.set_random_seed(0)
    batches = DeviceBatches(images, labels, NUM_CLASSES, batch_size=8, seed=3)
    schedule = WarmupMultiStep(0.1, len(batches), warmup_epochs=1, milestones=[3], factors=[0.1])
    trainer = compiled_trainer(tiny_network(), schedule)
    trainer(batches[0][0][:1])  # BackupAndRestore needs a built model and optimizer
    trainer.optimizer.build(trainer.trainable_variables)
    backup = keras.callbacks.BackupAndRestore if interrupt_at is None else interrupting_backup(interrupt_at)
    callbacks = [EpochSeeder(batches), backup(backup_dir)]
    try:  # shuffle=False: Keras would reorder the batches from Python's `random`, not resumable
        trainer.fit(batches, epochs=epochs, callbacks=callbacks, shuffle=False, verbose=0)
    except KeyboardInterrupt:
        pass
    return trainer


def momentum_buffers(trainer):
    return [v.numpy() for v in trainer.optimizer.variables if "momentum" in v.path]


def test_resume_from_backup_equals_an_uninterrupted_run(tmp_path):
    straight = run(str(tmp_path / "straight"), epochs=4)
    interrupted = run(str(tmp_path / "resumed"), epochs=4, interrupt_at=1)  # stops after epoch 2 of 4
    backup = tmp_path / "resumed"
    assert json.loads((backup / "training_metadata.json").read_text())["epoch"] == 2
    assert int(interrupted.optimizer.iterations.numpy()) == 2 * 3

    # The backup carries the optimizer: loading it into a fresh trainer gives the momentum back.
    fresh = compiled_trainer(tiny_network(7), WarmupMultiStep(0.1, 3))
    fresh(np.zeros((1, 8, 8, 3), "float32"))
    fresh.optimizer.build(fresh.trainable_variables)
    fresh.load_weights(os.path.join(backup, "latest.weights.h5"))
    assert int(fresh.optimizer.iterations.numpy()) == 6
    expected_buffers = momentum_buffers(interrupted)
    assert expected_buffers and any(np.abs(b).max() > 0 for b in expected_buffers)
    for restored, expected in zip(momentum_buffers(fresh), expected_buffers):
        np.testing.assert_array_equal(restored, expected)

    resumed = run(str(backup), epochs=4)
    assert not backup.exists()  # deleted once the run completes
    assert int(resumed.optimizer.iterations.numpy()) == int(straight.optimizer.iterations.numpy()) == 12
    for a, b in zip(resumed.network.weights, straight.network.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6, err_msg=a.path)


def test_config_round_trip():
    trainer = ERMTrainer(
        tiny_network(), mixer=Mixup(alpha=0.4), regularizers=[ConfusionPairMixing(eta=0.5)], loss_weight=0.5
    )
    rebuilt = ERMTrainer.from_config(json.loads(json.dumps(trainer.get_config())))
    assert isinstance(rebuilt.network, keras.Model)
    assert [w.shape for w in rebuilt.network.weights] == [w.shape for w in trainer.network.weights]
    assert isinstance(rebuilt.mixer, Mixup) and rebuilt.mixer.get_config() == trainer.mixer.get_config()
    (regularizer,) = rebuilt.regularizers
    assert isinstance(regularizer, ConfusionPairMixing) and regularizer.get_config() == trainer.regularizers[0].get_config()
    assert rebuilt.loss_weight == 0.5
    plain = ERMTrainer.from_config(json.loads(json.dumps(ERMTrainer(tiny_network()).get_config())))
    assert (plain.mixer, plain.regularizers, plain.loss_weight) == (None, (), 1.0)


def test_two_label_loss_is_the_lam_weighted_compiled_loss():
    """`mean_i lam_i L(y1_i) + (1 - lam_i) L(y2_i)` with Balanced Softmax, against a NumPy formula."""
    counts = np.array([40, 12, 4])
    trainer = ERMTrainer(tiny_network())
    trainer.compile(optimizer=SGD(0.1), loss=BalancedSoftmax(counts))
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, NUM_CLASSES)).astype("float32")
    y1, y2 = np.array([0, 1, 2, 0, 1, 2]), np.array([2, 2, 1, 1, 0, 0])

    def bs(labels):
        z = logits + np.log(counts / counts.sum())
        z = z - z.max(1, keepdims=True)
        return -(z - np.log(np.exp(z).sum(1, keepdims=True)))[np.arange(6), labels]

    def loss(lam, weight=None):
        value = trainer.two_label_loss(torch.tensor(logits), torch.tensor(y1), torch.tensor(y2), torch.tensor(lam), weight)
        return float(value)

    lam = np.array([0.3, 0.9, 0.5, 0.0, 1.0, 0.75], "float32")
    np.testing.assert_allclose(loss(lam), np.mean(lam * bs(y1) + (1 - lam) * bs(y2)), rtol=1e-5)
    weight = np.array([1, 2, 0, 1, 1, 3], "float32")
    expected = np.mean(weight * (lam * bs(y1) + (1 - lam) * bs(y2)))
    np.testing.assert_allclose(loss(lam, torch.tensor(weight)), expected, rtol=1e-5)
    # one lam for the batch: exactly lam * L(y1) + (1 - lam) * L(y2), batch means
    np.testing.assert_allclose(loss(np.full(6, 0.4, "float32")), 0.4 * bs(y1).mean() + 0.6 * bs(y2).mean(), rtol=1e-5)


def test_step_generators_are_keyed_by_seed_epoch_step_and_stream():
    trainer = ERMTrainer(tiny_network())
    with pytest.raises(KerasLTError, match="StepKey"):
        trainer.step_generators(1)

    def draws(key, stream, seed=None):
        trainer.step_key = key
        generator, rng = trainer.step_generators(stream, seed)
        return torch.randint(0, 10**6, (4,), generator=generator).tolist(), rng.random(2).tolist()

    assert draws((3, 5), 1) == draws((3, 5), 1)
    others = [draws((3, 6), 1), draws((4, 5), 1), draws((3, 5), 2), draws((3, 5), 1, seed=9)]
    for other in others:
        assert other[0] != draws((3, 5), 1)[0] and other[1] != draws((3, 5), 1)[1]
    trainer.batches = DeviceBatches(*toy_data(), NUM_CLASSES, seed=9)  # the fitted batches' seed by default
    assert draws((3, 5), 1) == draws((3, 5), 1, seed=9)


class Penalty(Ingredient):
    """A regulariser written as a new method would be: one class, its state and its switch on the trainer."""

    name = "penalty"

    def __init__(self, weight=0.5):
        self.weight = weight
        self.steps = None

    def build(self, trainer):
        self.steps = trainer.add_weight(shape=(), initializer="zeros", trainable=False, name="penalty_steps")

    def epoch_callbacks(self, trainer):
        return [keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: logs.update(penalty_steps=float(self.steps)))]

    def loss(self, trainer, x, y, logits, outputs):
        self.steps.assign_add(1.0)
        return self.weight * keras.ops.mean(keras.ops.square(logits))

    def get_config(self):
        return {"weight": self.weight}


def test_a_new_ingredient_adds_its_term_state_and_callbacks():
    trainer = ERMTrainer(tiny_network(), regularizers=[Penalty(0.5)], loss_weight=2.0)
    trainer.compile(optimizer=SGD(0.05), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    images, labels = toy_data(8)
    x, y = torch.tensor(images), torch.tensor(labels)
    loss, logits = trainer.training_loss(x, y)
    z = logits.detach().numpy().astype(np.float64)
    z_max = z.max(1, keepdims=True)
    ce = np.mean(np.log(np.exp(z - z_max).sum(1)) + z_max[:, 0] - z[np.arange(8), labels])
    np.testing.assert_allclose(float(loss.detach()), 2.0 * ce + 0.5 * np.mean(z**2), rtol=1e-5)
    assert float(trainer.regularizers[0].steps) == 1.0 and any(v is trainer.regularizers[0].steps for v in trainer.non_trainable_weights)
    assert trainer.needs_training_set is None and trainer.ingredients == trainer.regularizers
    batches = DeviceBatches(images, labels, NUM_CLASSES, batch_size=4)
    history = trainer.fit(batches, epochs=1, verbose=0, shuffle=False, callbacks=[EpochSeeder(batches), *trainer.epoch_callbacks()])
    assert history.history["penalty_steps"] == [3.0]  # its state, counted by its own step hook


class Hooks(Ingredient):
    """Logs its `prepare` and `build` calls with the network each sees; `prepare` can hand on another network."""

    def __init__(self, tag, log, replacement=None, needs_training_set=None):
        self.tag, self.log, self.replacement = tag, log, replacement
        self.needs_training_set = needs_training_set

    def prepare(self, network):
        self.log.append((self.tag, "prepare", network))
        return network if self.replacement is None else self.replacement

    def build(self, trainer):
        self.log.append((self.tag, "build", trainer.network))


def test_ingredients_prepare_the_network_in_order_then_build_and_can_require_the_training_set():
    log, network, prepared = [], tiny_network(), tiny_network(1)
    mixer = Hooks("mixer", log, replacement=prepared, needs_training_set="mixer draws training images")
    regularizer = Hooks("regularizer", log)
    trainer = ERMTrainer(network, mixer=mixer, regularizers=[regularizer])
    assert [(tag, hook) for tag, hook, _ in log] == [
        ("mixer", "prepare"), ("regularizer", "prepare"), ("mixer", "build"), ("regularizer", "build"),
    ]
    assert log[0][2] is network and all(seen is prepared for _, _, seen in log[1:]) and trainer.network is prepared
    assert trainer.ingredients == (mixer, regularizer) and trainer.needs_training_set == "mixer draws training images"
    with pytest.raises(KerasLTError) as error:
        trainer.fit(*toy_data(), epochs=1, verbose=0)
    assert str(error.value) == (
        "mixer draws training images: fit it on keras_lt.data batches (DeviceBatches or StreamingBatches)."
    )


def test_fit_on_batches_draws_each_epochs_own_order_without_being_told(monkeypatch):
    """A user's `trainer.fit(batches, epochs=3)`: every epoch drew epoch 0's order and crops (no `EpochSeeder`)."""
    from keras_lt.callbacks.step_key import StepKey

    images = np.random.default_rng(0).integers(0, 256, (12, 8, 8, 3), dtype=np.uint8)
    batches = DeviceBatches(images, np.arange(12) % 3, 3, batch_size=4, seed=0)
    epochs = []
    set_epoch = batches.set_epoch
    monkeypatch.setattr(batches, "set_epoch", lambda epoch: epochs.append(epoch) or set_epoch(epoch))
    seen = []
    trainer = ERMTrainer(cifar_resnet(8, 3, input_shape=(8, 8, 3)))
    trainer.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    original = keras.Model.fit
    monkeypatch.setattr(keras.Model, "fit", lambda self, x, **kwargs: seen.append(kwargs) or original(self, x, **kwargs))
    trainer.fit(batches, epochs=3, verbose=0)
    assert epochs[-3:] == [0, 1, 2]
    callbacks = seen[0]["callbacks"]
    assert seen[0]["shuffle"] is False and isinstance(callbacks[0], EpochSeeder) and isinstance(callbacks[1], StepKey)
    seeder = EpochSeeder(batches)  # given ones are not doubled
    trainer.fit(batches, epochs=1, verbose=0, callbacks=[seeder, *trainer.epoch_callbacks()])
    assert sum(isinstance(c, (EpochSeeder, StepKey)) for c in seen[1]["callbacks"]) == 2


def test_a_cosine_loss_on_a_linear_classifier_is_one_line():
    """LDAM on a linear head trained at a loss of hundreds, silently (the CLI and recipes refused it already)."""
    from keras_lt.losses import LDAM

    trainer = ERMTrainer(cifar_resnet(8, 3, input_shape=(8, 8, 3)))
    trainer.compile(optimizer="sgd", loss=LDAM([5, 3, 1]))
    images = np.zeros((6, 8, 8, 3), np.uint8)
    with pytest.raises(KerasLTError, match="^the ldam loss is defined on a cosine classifier's cosines, and this network"):
        trainer.fit(DeviceBatches(images, np.array([0, 1, 2, 0, 0, 1]), 3, batch_size=3), epochs=1, verbose=0)


def test_a_loss_of_another_class_count_than_the_network_is_one_line():
    trainer = ERMTrainer(cifar_resnet(8, 3, input_shape=(8, 8, 3)))
    trainer.compile(optimizer="sgd", loss=BalancedSoftmax([5, 3, 2, 1, 1]))
    images = np.zeros((6, 8, 8, 3), np.uint8)
    with pytest.raises(KerasLTError) as error:
        trainer.fit(DeviceBatches(images, np.array([0, 1, 2, 0, 0, 1]), 3, batch_size=3), epochs=1, verbose=0)
    assert str(error.value) == (
        "the balanced_softmax loss is built on 5 class counts and the network has 3 outputs; build the loss on the "
        "training set's counts, one per class."
    )
