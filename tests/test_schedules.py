"""WarmupMultiStep, WarmupCosine and CosineToZero against their formulas, written here in NumPy."""

import copy

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np
import pytest

from keras_lt.trainers import CosineToZero
from keras_lt.trainers import WarmupMultiStep


def lr_at(schedule, step):
    return float(keras.ops.convert_to_numpy(schedule(step)))


def reference_epoch_lr(epoch, lr, warmup, milestones, factors):
    """METHODS.md: `lr * (epoch + 1) / warmup` while warming up, then lr x the last factor reached."""
    epoch = np.asarray(epoch, dtype=np.float64)
    reached = (epoch[..., None] >= np.asarray(milestones, dtype=np.float64)).sum(-1)
    decayed = lr * np.concatenate([[1.0], factors])[reached]  # factor 1 before the first milestone
    if warmup == 0:
        return decayed
    return np.where(epoch < warmup, lr * (epoch + 1) / warmup, decayed)


@pytest.mark.parametrize(
    "lr, steps_per_epoch, warmup, milestones, factors, epochs",
    [
        (0.1, 3, 2, [5, 7], [0.1, 0.01], 9),  # short30-like, compressed
        (0.2, 2, 0, [1, 3], [0.5, 0.05], 5),  # no warmup
        (0.1, 4, 3, [], [], 5),  # warmup only
        (0.05, 1, 5, [5], [0.01], 7),  # decay right after warmup
    ],
)
def test_warmup_multistep_matches_formula_at_every_step(
    lr, steps_per_epoch, warmup, milestones, factors, epochs
):
    schedule = WarmupMultiStep(lr, steps_per_epoch, warmup, milestones, factors)
    steps = np.arange(epochs * steps_per_epoch)
    expected = reference_epoch_lr(steps // steps_per_epoch, lr, warmup, milestones, factors)
    actual = np.array([lr_at(schedule, step) for step in steps])
    np.testing.assert_allclose(actual, expected, rtol=1e-6)
    per_epoch = np.array([schedule.epoch_lr(e) for e in range(epochs)])
    expected_per_epoch = reference_epoch_lr(np.arange(epochs), lr, warmup, milestones, factors)
    np.testing.assert_allclose(per_epoch, expected_per_epoch, rtol=1e-12)
    # epoch_lr agrees with __call__ at every step of the epoch
    np.testing.assert_allclose(actual, per_epoch[steps // steps_per_epoch], rtol=1e-6)


def test_warmup_multistep_accepts_a_variable_step():
    schedule = WarmupMultiStep(0.1, 10, 2, [3], [0.1])
    step = keras.Variable(35, dtype="int32", trainable=False)  # epoch 3: decayed
    np.testing.assert_allclose(lr_at(schedule, step), 0.01, rtol=1e-6)


def test_warmup_multistep_rejects_mismatched_factors():
    with pytest.raises(ValueError, match="same length"):
        WarmupMultiStep(0.1, 10, 0, milestones=[3, 4], factors=[0.1])


def test_cosine_to_zero_matches_formula():
    base, total = 0.03, 12
    schedule = CosineToZero(base, total)
    steps = np.arange(total + 4)  # past the end it stays at 0
    expected = 0.5 * base * (1 + np.cos(np.pi * np.minimum(steps / total, 1.0)))
    actual = np.array([lr_at(schedule, s) for s in steps])
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-9)
    assert actual[0] == pytest.approx(base) and actual[-1] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize(
    "schedule",
    [WarmupMultiStep(0.1, 97, 2, milestones=[24, 27], factors=[0.1, 0.01]), CosineToZero(0.01, 970)],
)
def test_config_round_trip(schedule):
    config = schedule.get_config()
    restored = type(schedule).from_config(copy.deepcopy(config))
    assert restored.get_config() == config
    rebuilt = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert type(rebuilt) is type(schedule) and rebuilt.get_config() == config
    for step in (0, 150, 2400, 2650):
        assert lr_at(rebuilt, step) == lr_at(schedule, step)


def numpy_warmup_cosine(step, base, steps_per_epoch, warmup, epochs):
    epoch = step // steps_per_epoch
    if epoch < warmup:
        return base * (epoch + 1) / warmup
    t = (step - warmup * steps_per_epoch) / ((epochs - warmup) * steps_per_epoch)
    return base / 2 * (1 + np.cos(np.pi * min(t, 1.0)))


@pytest.mark.parametrize("warmup", [0, 2])
def test_warmup_cosine_matches_the_formula_at_every_step(warmup):
    from keras_lt.trainers import WarmupCosine

    schedule = WarmupCosine(0.1, steps_per_epoch=3, warmup_epochs=warmup, epochs=6)
    for step in range(6 * 3 + 2):
        expected = numpy_warmup_cosine(step, 0.1, 3, warmup, 6)
        assert float(schedule(step)) == pytest.approx(expected, abs=1e-7)
    assert schedule.epoch_lr(warmup) == pytest.approx(0.1)
    assert WarmupCosine.from_config(schedule.get_config()).get_config() == schedule.get_config()


def test_recipes_select_the_cosine_decay():
    from keras_lt.recipes import Recipe
    from keras_lt.trainers import WarmupCosine
    from keras_lt.training import build_trainer
    from keras_lt.training_data import TrainingData

    data = TrainingData(
        np.zeros((6, 32, 32, 3), "uint8"), np.array([0, 0, 0, 1, 1, 2]),
        np.zeros((3, 32, 32, 3), "uint8"), np.array([0, 1, 2]), ["a", "b", "c"],
    )
    trainer, _ = build_trainer(Recipe(name="c", lr_decay="cosine", epochs=4, warmup_epochs=1), data, 2)
    assert isinstance(trainer.optimizer._learning_rate, WarmupCosine)
