"""Tests keras_lt.trainers.pgd: targeted L-inf PGD against a NumPy reference, its ball, pixel range and dtypes."""

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np
import pytest
import torch

from afr_data import COUNTS
from afr_data import colour_data
from afr_data import tiny_model
from keras_lt.trainers.pgd import targeted_pgd

pytestmark = pytest.mark.usefixtures("tiny_architecture")


def numpy_pgd(images, weight, targets, eps, steps, step_size):
    """Targeted PGD on the linear logits `x.reshape(B, -1) @ weight`, written out in float64 (pixels 0..255)."""
    start = images.astype(np.float64)
    x, radius, step = start.copy(), 255.0 * eps, 255.0 * step_size
    for _ in range(steps):
        z = x.reshape(len(x), -1) @ weight
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        gradient = ((p - np.eye(weight.shape[1])[targets]) @ weight.T / len(x)).reshape(x.shape)  # d mean CE / d x
        x = np.clip(np.clip(x - step * np.sign(gradient), start - radius, start + radius), 0.0, 255.0)
    return x


def test_steps_equal_numpy_signed_gradient_descent_projected_on_the_ball_and_pixel_range():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4, 2, 2, 3)).astype(np.uint8)
    images[0], images[1] = 0, 255  # the pixel range binds
    weight = rng.normal(0, 0.002, (12, 5))
    targets = np.array([1, 4, 0, 2])
    kernel = torch.tensor(weight, dtype=torch.float32, requires_grad=True)

    def model(x):
        return x.reshape(len(x), -1) @ kernel

    x = torch.tensor(images)
    for eps in (3 / 255, 0.6):  # 4 steps of 2 grey levels: the ball binds at eps = 3 grey levels, not at 0.6
        adversarial = targeted_pgd(model, x, torch.tensor(targets), eps=eps, steps=4, step_size=2 / 255)
        assert adversarial.dtype == torch.uint8  # integer steps from integer pixels: exact
        np.testing.assert_array_equal(adversarial.numpy(), numpy_pgd(images, weight, targets, eps, 4, 2 / 255))
        assert np.abs(adversarial.numpy().astype(int) - images).max() == (3 if eps < 0.1 else 8)
    floats = targeted_pgd(model, x.float(), torch.tensor(targets), eps=3 / 255, steps=3, step_size=1.3 / 255)
    assert floats.dtype == torch.float32
    expected = numpy_pgd(images, weight, targets, 3 / 255, 3, 1.3 / 255)
    np.testing.assert_allclose(floats.numpy(), expected, rtol=1e-5, atol=1e-4)
    assert 0 < np.abs(expected - images).max() <= 3.0
    assert kernel.grad is None and not x.requires_grad  # no gradient reaches the model or the input
    np.testing.assert_array_equal(x.numpy(), images)


def attack_setup(seed=0):
    model = tiny_model(seed)
    embedder = keras.Model(model.inputs, model.get_layer("pool").output)
    generator = torch.Generator().manual_seed(seed)
    kernel = torch.randn((embedder.output_shape[-1], 2 * len(COUNTS)), generator=generator)
    bias = torch.zeros(2 * len(COUNTS))

    def attack(x):
        return embedder(x, training=False) @ kernel + bias

    return attack


def test_pgd_stays_within_eps_keeps_the_pixel_range_and_raises_the_minority_logit():
    images, labels = colour_data()
    x, y = torch.tensor(images), torch.tensor(labels)
    attack = attack_setup()
    targets = 2 * y + 1  # class y's minority
    adversarial = targeted_pgd(attack, x, targets, eps=0.6, steps=3, step_size=1 / 255)
    assert adversarial.dtype == torch.uint8 and adversarial.shape == x.shape
    change = (adversarial.int() - x.int()).abs()
    assert change.max() <= 3 and change.max() >= 1  # 3 steps of one grey level (eps 0.6 does not bind)
    with torch.no_grad():
        before = torch.log_softmax(attack(x.float()), -1)[torch.arange(len(y)), targets]
        after = torch.log_softmax(attack(adversarial.float()), -1)[torch.arange(len(y)), targets]
    assert (after > before).float().mean() > 0.9 and (after - before).mean() > 0
    # a tight ball binds: eps = 1 grey level
    tight = targeted_pgd(attack, x, targets, eps=1 / 255, steps=3, step_size=1 / 255)
    assert (tight.int() - x.int()).abs().max() == 1
    # float inputs stay float, inside 0..255 (the black and white images)
    floats = targeted_pgd(attack, x.float(), targets, eps=0.6, steps=5, step_size=4 / 255)
    assert floats.dtype == torch.float32 and floats.min() >= 0 and floats.max() <= 255
    assert (floats - x.float()).abs().max() <= 20 + 1e-4
