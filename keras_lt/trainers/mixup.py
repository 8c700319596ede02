"""Mixup ERM (Zhang et al., 2018), MiSLAS' stage 1 (Zhong et al., CVPR 2021)."""

import keras
import torch

from keras_lt.trainers.erm import ERMTrainer

STREAM = 2  # last word of the (epoch, step, STREAM) random key: apart from DeviceBatches' and CP-Mix's


@keras.saving.register_keras_serializable(package="keras_lt")
class MixupTrainer(ERMTrainer):
    """ERM on mixed batches: `x = lam x_i + (1 - lam) x_perm(i)`, loss `lam L(y) + (1 - lam) L(y_perm)`.

    As MiSLAS' `mixup_data` / `mixup_criterion`: `lam ~ Beta(alpha, alpha)`, one per batch by
    default (`lam_per_sample=True` draws one per image), the partner of image i is image `perm(i)`
    of a random permutation of the batch, images are mixed in 0..255 (before the model's
    normalisation), and the compiled loss (CE in MiSLAS) is taken against both labels, weighted by
    `lam` and `1 - lam` (per-sample weights multiply both terms; a model's own regularisation
    losses, which keras-lt models do not have, would count twice). The accuracy metric is against
    the first label.

    MiSLAS' CIFAR stage 1 (METHODS.md; the `mislas-*` recipes): alpha 1, 200 epochs, batch 128,
    SGD lr 0.1 momentum 0.9, weight decay 2e-4 (the MiSLAS README reports 5e-4 works better; an
    alternative the recipes do not use), warmup 5 epochs, x0.1 at 160, x0.01 at 180. Stage 2 is
    `keras_lt.trainers.mislas`.

    Randomness: `lam` (NumPy) and the permutation (torch) of step `s` of epoch `e` come from
    `step_generators`, keyed by `(seed, e, s, STREAM)`; `seed` is the batches' seed unless given. The
    `StepKey` callback of `epoch_callbacks()` sets the key before every step, so `--resume` is exact.

    Args:
        network: a `keras.Model` mapping images (0..255, NHWC) to logits.
        alpha: the Beta distribution's parameter (> 0).
        lam_per_sample: one `lam` per image (True) or per batch (False, MiSLAS).
        seed: seed of the mixing draws; None for the seed of the `DeviceBatches` fitted (else 0).
        **kwargs: forwarded to `ERMTrainer`.

    Example:
    >>> trainer = MixupTrainer(keras_lt.models.resnet32(100), alpha=1.0)
    >>> trainer.compile(optimizer=SGD(schedule, weight_decay=2e-4), loss=ce, metrics=["accuracy"])
    >>> trainer.fit(batches, epochs=200, shuffle=False,
    ...             callbacks=[EpochSeeder(batches), *trainer.epoch_callbacks()])
    """

    def __init__(self, network, alpha=1.0, lam_per_sample=False, seed=None, **kwargs):
        super().__init__(network, **kwargs)
        if alpha <= 0:
            raise ValueError(f"alpha must be > 0, got {alpha}.")
        self.alpha = float(alpha)
        self.lam_per_sample = bool(lam_per_sample)
        self.seed = seed


    def mix_batch(self, x, y):
        """`(images, partner_labels, lam)` of the current step: float32 images, int64 and `(B,)` float32."""
        generator, rng = self.step_generators(STREAM, self.seed)
        size = len(y)
        lam = rng.beta(self.alpha, self.alpha, size if self.lam_per_sample else 1)
        lam = torch.as_tensor(lam, dtype=torch.float32, device=y.device).expand(size)
        permutation = torch.randperm(size, device=y.device, generator=generator)
        w = lam.reshape(-1, *([1] * (x.dim() - 1)))
        x = x.to(torch.float32)
        return w * x + (1.0 - w) * x[permutation], y[permutation], lam

    def training_loss(self, x, y, sample_weight=None):
        images, partner_labels, lam = self.mix_batch(x, y)
        logits = self(images, training=True)
        return self.two_label_loss(logits, y, partner_labels, lam, sample_weight), logits

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "lam_per_sample": self.lam_per_sample, "seed": self.seed}
