"""SGD: the same trajectory as `torch.optim.SGD` (coupled weight decay, momentum, lr changes)."""

import copy

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np
import pytest
import torch

from keras_lt.trainers import SGD
from keras_lt.trainers import WarmupMultiStep

SHAPES = [(3, 4), (4,), (2, 3, 3)]
STEPS = 6


def make_problem(seed=0):
    rng = np.random.default_rng(seed)
    params = [rng.normal(size=s).astype("float32") for s in SHAPES]
    grads = [[rng.normal(size=s).astype("float32") for s in SHAPES] for _ in range(STEPS)]
    return params, grads


def torch_trajectory(params, grads, lrs, momentum, weight_decay, nesterov=False):
    """The reference: torch.optim.SGD, with the lr of each step set in its param group."""
    tensors = [torch.tensor(p, requires_grad=True) for p in params]
    optimizer = torch.optim.SGD(
        tensors, lr=lrs[0], momentum=momentum, weight_decay=weight_decay, nesterov=nesterov
    )
    for lr, step_grads in zip(lrs, grads):
        optimizer.param_groups[0]["lr"] = lr
        for t, g in zip(tensors, step_grads):
            t.grad = torch.tensor(g)
        optimizer.step()
    return [t.detach().numpy() for t in tensors]


def keras_trajectory(optimizer, params, grads, lrs=None):
    """Applies `grads` step by step; `lrs` (if given) are assigned to `learning_rate` first."""
    variables = [keras.Variable(p) for p in params]
    for step, step_grads in enumerate(grads):
        if lrs is not None:
            optimizer.learning_rate = lrs[step]
        optimizer.apply([torch.tensor(g) for g in step_grads], variables)
    return [v.numpy() for v in variables]


def assert_same(actual, expected):
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("nesterov", [False, True])
def test_matches_torch_with_schedule_changing_lr(nesterov):
    """Warmup 0.05 -> 0.1, then x0.1: the steps where Keras' own SGD would drift from torch."""
    params, grads = make_problem()
    schedule = WarmupMultiStep(0.1, steps_per_epoch=2, warmup_epochs=2, milestones=[2], factors=[0.1])
    lrs = [0.05, 0.05, 0.1, 0.1, 0.01, 0.01]  # per step, written out from the schedule's definition
    optimizer = SGD(schedule, momentum=0.9, weight_decay=5e-2, nesterov=nesterov)
    expected = torch_trajectory(params, grads, lrs, 0.9, 5e-2, nesterov)
    assert_same(keras_trajectory(optimizer, params, grads), expected)


@pytest.mark.parametrize("nesterov", [False, True])
def test_matches_torch_with_assigned_lr(nesterov):
    params, grads = make_problem(1)
    lrs = [0.2, 0.2, 0.2, 0.02, 0.02, 0.5]
    optimizer = SGD(0.2, momentum=0.9, weight_decay=1e-2, nesterov=nesterov)
    expected = torch_trajectory(params, grads, lrs, 0.9, 1e-2, nesterov)
    assert_same(keras_trajectory(optimizer, params, grads, lrs), expected)


def test_no_weight_decay_and_no_momentum():
    params, grads = make_problem(2)
    lrs = [0.3] * STEPS
    expected = torch_trajectory(params, grads, lrs, 0.0, 0.0)
    assert_same(keras_trajectory(SGD(0.3, momentum=0.0), params, grads), expected)


def test_keras_sgd_is_not_torch_sgd_when_lr_changes():
    """The reference is sensitive: Keras' SGD (momentum buffer holds lr * g) drifts from torch."""
    params, grads = make_problem(3)
    lrs = [0.2, 0.2, 0.2, 0.02, 0.02, 0.02]
    expected = torch_trajectory(params, grads, lrs, 0.9, 0.0)
    actual = keras_trajectory(keras.optimizers.SGD(0.2, momentum=0.9), params, grads, lrs)
    assert max(np.abs(a - e).max() for a, e in zip(actual, expected)) > 1e-3


def test_momentum_buffer_is_an_optimizer_variable():
    """The buffer lives in `optimizer.variables`, so checkpoints (BackupAndRestore) carry it."""
    params, grads = make_problem(4)
    optimizer = SGD(0.1, momentum=0.9, weight_decay=0.0)
    keras_trajectory(optimizer, params, grads[:1])
    buffers = [v for v in optimizer.variables if "momentum" in v.path]
    assert len(buffers) == len(SHAPES)
    for buf, g in zip(buffers, grads[0]):
        np.testing.assert_allclose(buf.numpy(), g, rtol=1e-6)  # first step: buf = g


def test_config_round_trip():
    schedule = WarmupMultiStep(0.1, 3, 1, milestones=[2], factors=[0.1])
    optimizer = SGD(schedule, momentum=0.8, weight_decay=1e-3, nesterov=True)
    config = optimizer.get_config()
    assert (config["momentum"], config["weight_decay"], config["nesterov"]) == (0.8, 1e-3, True)
    restored = SGD.from_config(copy.deepcopy(config))
    assert restored.get_config() == config
    assert isinstance(restored._learning_rate, WarmupMultiStep)
    rebuilt = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert isinstance(rebuilt, SGD) and rebuilt.get_config() == config
    params, grads = make_problem(5)
    assert_same(keras_trajectory(rebuilt, params, grads), keras_trajectory(optimizer, params, grads))
