"""Mixup (Zhang et al., 2018) as a batch mixer: MiSLAS' stage 1 (Zhong et al., CVPR 2021)."""

import keras
import torch

from keras_lt.random_keys import MIXUP_STREAM
from keras_lt.trainers.ingredient import Ingredient
from keras_lt.trainers.ingredient import beta_lam
from keras_lt.trainers.ingredient import check_alpha


@keras.saving.register_keras_serializable(package="keras_lt")
class Mixup(Ingredient):
    """Mixes the batch with a permutation of itself: `x = lam x_i + (1 - lam) x_perm(i)`.

    The trainer scores the mixed batch with `lam L(y) + (1 - lam) L(y_perm)`, as MiSLAS'
    `mixup_data` / `mixup_criterion`: `lam ~ Beta(alpha, alpha)`, one per batch by default
    (`lam_per_sample=True` draws one per image), images mixed in 0..255 (before the model's
    normalisation), the compiled loss (CE in MiSLAS) against both labels; per-sample weights
    multiply both terms. The accuracy metric is against the first label.

    MiSLAS' CIFAR stage 1 (METHODS.md; the `mislas-*` recipes): alpha 1, 200 epochs, batch 128,
    SGD lr 0.1 momentum 0.9, weight decay 2e-4, warmup 5 epochs, x0.1 at 160, x0.01 at 180. Stage 2
    is `keras_lt.trainers.mislas`.

    Randomness: `lam` (NumPy) and the permutation (torch) of step `s` of epoch `e` come from
    `trainer.step_generators`, keyed by `(seed, e, s, MIXUP_STREAM)`; `seed` is the batches' seed unless
    given, so `--resume` is exact.

    Args:
        alpha: the Beta distribution's parameter (> 0).
        lam_per_sample: one `lam` per image (True) or per batch (False, MiSLAS).
        seed: seed of the mixing draws; None for the seed of the batches fitted (else 0).

    Example:
    >>> trainer = ERMTrainer(keras_lt.models.resnet32(100), mixer=Mixup(alpha=1.0))
    >>> trainer.compile(optimizer=SGD(schedule, weight_decay=2e-4), loss=ce, metrics=["accuracy"])
    """

    name = "mixup"

    def __init__(self, alpha=1.0, lam_per_sample=False, seed=None):
        self.alpha = check_alpha(alpha)
        self.lam_per_sample = bool(lam_per_sample)
        self.seed = seed

    def mix(self, trainer, x, y):
        """`(images, partner_labels, lam)` of the current step: float32 images, int64 and `(B,)` float32."""
        generator, rng = trainer.step_generators(MIXUP_STREAM, self.seed)
        size = len(y)
        lam = beta_lam(rng, self.alpha, size, self.lam_per_sample, y.device)
        permutation = torch.randperm(size, device=y.device, generator=generator)
        w = lam.reshape(-1, *([1] * (x.dim() - 1)))
        x = x.to(torch.float32)
        return w * x + (1.0 - w) * x[permutation], y[permutation], lam

    def get_config(self):
        return {"alpha": self.alpha, "lam_per_sample": self.lam_per_sample, "seed": self.seed}
