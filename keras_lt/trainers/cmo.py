"""CMO (Park et al., CVPR 2022): context-rich minority over-sampling by CutMix onto majority backgrounds, as a batch mixer."""

import keras
import torch

from keras_lt.callbacks.cmo_window import CMOWindow
from keras_lt.data.cutmix import cutmix
from keras_lt.data.samplers import SAMPLERS
from keras_lt.data.samplers import class_probabilities
from keras_lt.random_keys import CMO_STREAM
from keras_lt.trainers.ingredient import Ingredient
from keras_lt.trainers.ingredient import check_alpha


@keras.saving.register_keras_serializable(package="keras_lt")
class CMO(Ingredient):
    """CMO: pastes a box of a minority-weighted foreground image into each instance-sampled background.

    The batch being fitted is the background (instance sampling). Inside the epoch window
    (`keras_lt.callbacks.CMOWindow`, which `epoch_callbacks()` returns), with probability
    `probability` per batch, a foreground batch is drawn on the device from the same training set,
    each image with weight `1 / n_c` of its class (with replacement, the reference's
    `WeightedRandomSampler`; so each class is equally likely: the "class_balanced" sampler; the
    `foreground_sampler` knob takes any of `keras_lt.data.samplers.SAMPLERS`), augmented as the batch
    is (`DeviceBatches.augment_batch`: crop + flip, plus AutoAugment + Cutout in the "autoaugment"
    mode). Then, as naver-ai/cmo's `train.py`:

        lam ~ Beta(alpha, alpha); box side int(side * sqrt(1 - lam)), uniform centre, clipped;
        lam <- 1 - box area / image area;
        loss = lam * L(logits, y_background) + (1 - lam) * L(logits, y_foreground)

    with the compiled loss `L` (Balanced Softmax in the recipes; any loss works), on one forward
    pass of the mixed batch (`keras_lt.trainers.ERMTrainer` scores the two labels). The metrics see the background labels, as the reference's accuracy.
    Outside the window, or when the batch is not mixed, the batch goes through as it is. A per-sample weight
    (`fit`'s `class_weight`) multiplies both terms.

    The 400-epoch recipes (`cmo-aa-*`, the reference's `--use_randaug`) follow its
    `paco_adjust_learning_rate`, written as step milestones: epochs 0..10 warm up at
    `lr / 10 * (epoch + 1)` (its `epoch <= warmup_epochs`: epoch 10 runs at 1.1 lr), x0.1 after epoch
    320, x0.01 after 360. Its augmentation picks, per image, AutoAugment + Cutout or a SimCLR-like
    transform (`keras_lt.data.paco_augment`), not AutoAugment + Cutout on every image.

    Our reading, with knobs: one `lam` and one box for the whole batch, as the reference code
    (`lam_per_sample=True` draws one per image, each with its own box); the window is given as
    0-based inclusive epochs, the reference's `3 < epoch < E - 3` being `(4, E - 4)`.

    Randomness: step `s` of epoch `e` draws from `trainer.step_generators` (keyed by
    `(seed of the batches, e, s, CMO_STREAM)`): NumPy for the Bernoulli and `lam` (torch's Beta sampler
    takes no generator), torch for the foreground images, augmentation and box centres. So a
    resumed run mixes exactly what an uninterrupted one does.

    The trainer must be fitted on `keras_lt.data` batches: the foregrounds come from their training set.

    Args:
        probability: chance that a batch (inside the window) is mixed.
        alpha: the Beta distribution's parameter.
        window: `(first_epoch, last_epoch)`, 0-based and inclusive, of the epochs that may mix.
        foreground_sampler: how foreground images are drawn ("class_balanced": image weight `1 / n_c`,
            the reference; "inverse_frequency" draws classes with probability `1 / n_c`, far more
            tail-heavy).
        lam_per_sample: one `lam` and box per image (True) or per batch (False, the reference).

    Example:
    >>> trainer = ERMTrainer(keras_lt.models.resnet32(100), mixer=CMO(window=(4, 196)))
    >>> trainer.compile(optimizer=SGD(schedule), loss=BalancedSoftmax(counts), metrics=["accuracy"])
    >>> trainer.fit(batches, epochs=200, shuffle=False,
    ...             callbacks=[EpochSeeder(batches), *trainer.epoch_callbacks()])
    """

    name = "cmo"
    needs_training_set = "CMO draws foreground images from the training set"

    def __init__(self, probability=0.5, alpha=1.0, window=(4, 196), foreground_sampler="class_balanced", lam_per_sample=False):
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"probability must be in [0, 1], got {probability}.")
        if len(window) != 2 or window[0] > window[1]:
            raise ValueError(f"window must be (first_epoch, last_epoch) with first <= last, got {window}.")
        if foreground_sampler not in SAMPLERS:
            raise ValueError(f"foreground_sampler must be one of {', '.join(SAMPLERS)}, got '{foreground_sampler}'.")
        self.probability = float(probability)
        self.alpha = check_alpha(alpha)
        self.window = (int(window[0]), int(window[1]))
        self.foreground_sampler = foreground_sampler
        self.lam_per_sample = bool(lam_per_sample)
        self.active = False  # set by CMOWindow

    def epoch_callbacks(self, trainer):
        return [CMOWindow(self, *self.window)]

    def mix(self, trainer, x, y):
        """`(images, foreground_labels, lam)` of a mixed step; None when the step is not mixed."""
        if not self.active:
            return None
        generator, rng = trainer.step_generators(CMO_STREAM)
        if rng.random() >= self.probability:
            return None
        foreground, y_foreground = self.foreground_batch(trainer.batches, len(y), generator)
        lam = rng.beta(self.alpha, self.alpha, len(y) if self.lam_per_sample else 1)
        mixed, lam = cutmix(x, foreground.to(x.dtype), torch.as_tensor(lam, device=x.device), generator)
        return mixed, y_foreground, lam.expand(len(y))

    def foreground_batch(self, batches, size, generator):
        """`size` training images of `batches` drawn by `foreground_sampler`, augmented as the batches are, and their labels."""
        probabilities = class_probabilities(batches.class_counts, self.foreground_sampler)
        idx = batches.class_sampler.sample(probabilities, size, generator)
        return batches.images_at(idx, generator), batches.labels[idx]

    def get_config(self):
        return {
            "probability": self.probability,
            "alpha": self.alpha,
            "window": list(self.window),
            "foreground_sampler": self.foreground_sampler,
            "lam_per_sample": self.lam_per_sample,
        }
