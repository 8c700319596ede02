"""Learning-rate schedules evaluated per epoch, as the reference scripts do."""

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_lt")
class WarmupMultiStep(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup per epoch, then step decays at given epochs (LDAM-DRW style).

    `lr(epoch) = base * (epoch + 1) / warmup_epochs` for `epoch < warmup_epochs`, else `base` times
    the factor of the last milestone reached. The optimizer's step counter is turned into an epoch
    with `steps_per_epoch`, so resuming an interrupted run restores the schedule with the optimizer.

    Args:
        base_lr: peak learning rate.
        steps_per_epoch: optimizer steps in one epoch.
        warmup_epochs: epochs of linear warmup (0 for none).
        milestones: epochs at which the rate changes, increasing.
        factors: the factor of `base_lr` from each milestone on (absolute, not cumulative), e.g.
            `[0.1, 0.01]` for "x0.1 at 24, x0.01 at 27".

    Example:
    >>> schedule = WarmupMultiStep(0.1, 97, 2, milestones=[24, 27], factors=[0.1, 0.01])
    """

    def __init__(self, base_lr, steps_per_epoch, warmup_epochs=0, milestones=(), factors=()):
        if len(milestones) != len(factors):
            raise ValueError("milestones and factors must have the same length.")
        self.base_lr = float(base_lr)
        self.steps_per_epoch = int(steps_per_epoch)
        self.warmup_epochs = int(warmup_epochs)
        self.milestones = [int(m) for m in milestones]
        self.factors = [float(f) for f in factors]

    def epoch_lr(self, epoch):
        """The learning rate of a (0-based) epoch, as a Python float."""
        if epoch < self.warmup_epochs:
            return self.base_lr * (epoch + 1) / self.warmup_epochs
        factor = 1.0
        for milestone, f in zip(self.milestones, self.factors):
            if epoch >= milestone:
                factor = f
        return self.base_lr * factor

    def __call__(self, step):
        epoch = ops.floor_divide(ops.cast(step, "int32"), self.steps_per_epoch)
        lr = ops.convert_to_tensor(self.base_lr, "float32")
        for milestone, factor in zip(self.milestones, self.factors):
            lr = ops.where(epoch >= milestone, self.base_lr * factor, lr)
        if self.warmup_epochs:
            warm = self.base_lr * ops.cast(epoch + 1, "float32") / self.warmup_epochs
            lr = ops.where(epoch < self.warmup_epochs, warm, lr)
        return lr

    def get_config(self):
        return {
            "base_lr": self.base_lr,
            "steps_per_epoch": self.steps_per_epoch,
            "warmup_epochs": self.warmup_epochs,
            "milestones": self.milestones,
            "factors": self.factors,
        }


@keras.saving.register_keras_serializable(package="keras_lt")
class CosineToZero(keras.optimizers.schedules.LearningRateSchedule):
    """Cosine decay from `base_lr` to 0 over `total_steps` optimizer steps (fine-tune stages).

    Args:
        base_lr: initial learning rate.
        total_steps: steps until the rate reaches 0.

    Example:
    >>> schedule = CosineToZero(0.01, total_steps=10 * 97)
    """

    def __init__(self, base_lr, total_steps):
        self.base_lr = float(base_lr)
        self.total_steps = int(total_steps)

    def __call__(self, step):
        progress = ops.minimum(ops.cast(step, "float32") / self.total_steps, 1.0)
        return 0.5 * self.base_lr * (1.0 + ops.cos(math.pi * progress))

    def get_config(self):
        return {"base_lr": self.base_lr, "total_steps": self.total_steps}


@keras.saving.register_keras_serializable(package="keras_lt")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup per epoch (as `WarmupMultiStep`), then a per-step cosine decay to 0.

    `lr = base * (epoch + 1) / warmup_epochs` during warmup; afterwards
    `lr = base / 2 * (1 + cos(pi * t))` with `t` the fraction of the post-warmup steps done.

    Args:
        base_lr: peak learning rate.
        steps_per_epoch: optimizer steps in one epoch.
        warmup_epochs: epochs of linear warmup (0 for none).
        epochs: total epochs of the run (warmup included).

    Example:
    >>> schedule = WarmupCosine(0.1, 97, warmup_epochs=5, epochs=200)
    """

    def __init__(self, base_lr, steps_per_epoch, warmup_epochs, epochs):
        self.base_lr = float(base_lr)
        self.steps_per_epoch = int(steps_per_epoch)
        self.warmup_epochs = int(warmup_epochs)
        self.epochs = int(epochs)

    def epoch_lr(self, epoch):
        """The learning rate at the first step of a (0-based) epoch, as a Python float."""
        return float(self(epoch * self.steps_per_epoch))

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup_steps = self.warmup_epochs * self.steps_per_epoch
        decay_steps = max((self.epochs - self.warmup_epochs) * self.steps_per_epoch, 1)
        progress = ops.clip((step - warmup_steps) / decay_steps, 0.0, 1.0)
        cosine = 0.5 * self.base_lr * (1.0 + ops.cos(math.pi * progress))
        if not self.warmup_epochs:
            return cosine
        epoch = ops.floor(step / self.steps_per_epoch)
        warm = self.base_lr * (epoch + 1.0) / self.warmup_epochs
        return ops.where(step < warmup_steps, warm, cosine)

    def get_config(self):
        return {
            "base_lr": self.base_lr,
            "steps_per_epoch": self.steps_per_epoch,
            "warmup_epochs": self.warmup_epochs,
            "epochs": self.epochs,
        }
