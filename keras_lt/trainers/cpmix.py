"""CP-Mix (confusion-pairing mixup) as a regulariser: mixup between the classes the model confuses."""

import json
import os

import keras
import torch

from keras_lt.callbacks.cpmix_stage import CPMixStage
from keras_lt.data.mixing import confusion_counts
from keras_lt.data.mixing import label_weight
from keras_lt.data.mixing import mix
from keras_lt.data.mixing import sample_confusion_pairs
from keras_lt.distributed import all_reduce_sum
from keras_lt.evaluation import top_confusion_pairs
from keras_lt.random_keys import CPMIX_STREAM
from keras_lt.trainers.erm import MIXED
from keras_lt.trainers.ingredient import Ingredient
from keras_lt.trainers.ingredient import beta_lam
from keras_lt.trainers.ingredient import check_alpha

SUMMARY_FILE = "training_confusion.json"
SUMMARY_PAIRS = 20


@keras.saving.register_keras_serializable(package="keras_lt")
class ConfusionPairMixing(Ingredient):
    """CP-Mix: counts the training confusions, and from `start_epoch` adds mixup of confusion pairs and of the batch.

    Every step adds the misclassified `(true, predicted argmax)` pairs of the trained batch's logits
    (of a batch a mixer mixed: those predicted as neither of their labels, against the dominant
    one) to `confusion` (`Q`, C x C float32 counts, exact up to 2**24 per
    cell; a non-trainable variable of the trainer, so backups and `--resume` carry it), from the
    first epoch on; in a multi-process run each step adds the counts of every rank's shard (a sum
    all-reduce), so all ranks hold the Q of the global batches. From `start_epoch`
    (`keras_lt.callbacks.CPMixStage`, which `epoch_callbacks` returns) it adds to the loss

        eta * (CE(CP-mixed batch) + CE(mixup of the batch with a permutation of itself))

    - CP-mixed batch (`mix_batch_size` pairs, B by default): anchor classes uniform over the classes
      (those with training images), partners drawn from the anchors' rows of `Q` (uniform over the
      other classes for an empty row), one training image of each drawn class uniformly, augmented
      as the batch is.
    - Both mixups: `lam ~ Beta(alpha, alpha)`, `x = lam x_i + (1 - lam) x_j` on the 0..255 images
      (before the model's normalisation), soft label `lam_y onehot(y_i) + (1 - lam_y) onehot(y_j)`
      with `lam_y = (1 - rho) lam + rho n_j / (n_i + n_j)`; `n` are the training counts; plain CE.

    With the trainer's classification loss (Balanced Softmax in the `cpmix-*` recipes; KPS on a
    cosine classifier in `cpmix-kps-*`) this is CP-Mix's objective; a per-sample weight weights the
    classification term only. Our reading of METHODS.md, with knobs: `lam` is drawn per pair
    (`lam_per_sample=False` draws one per mixed batch); the two mixed batches go through the
    network in their own training-mode passes, so the classification term is exactly stage 1's
    (each pass updates the BatchNorm statistics, as separate forward passes do in PyTorch).

    Randomness: the draws of step `s` of epoch `e` come from `trainer.step_generators`, keyed by
    `(seed of the batches, e, s, CPMIX_STREAM)` (torch for classes, images, augmentation and the
    permutation; NumPy for `lam`), so a resumed run draws what an uninterrupted one does. The
    trainer must be fitted on `keras_lt.data` batches: the partner images come from their training
    set. The classifier fine-tune that follows CP-Mix is `cpmix_finetune` (`"finetune": {"method":
    "cpmix"}` in the recipes). `write_summary` leaves Q and its top pairs in `training_confusion.json`.

    Args:
        alpha: the Beta distribution's parameter.
        rho: share of the count term in the label weight.
        eta: weight of the two mixup terms.
        mix_batch_size: number of confusion pairs per step and process: in a multi-process run each
            rank draws this many (world size x this in all), whereas None draws the rank's shard of
            the batch (the batch size in all).
        lam_per_sample: one `lam` per pair (True) or per mixed batch (False).
        start_epoch: first epoch (0-based) with the mixup terms (METHODS.md: 2/3 of the epochs, 200
            of 300); None: never (Q is counted all the same).

    Example:
    >>> cpmix = ConfusionPairMixing(start_epoch=200)
    >>> trainer = ERMTrainer(keras_lt.models.resnet32(100), regularizers=[cpmix])
    >>> trainer.compile(optimizer=SGD(schedule), loss=BalancedSoftmax(counts), metrics=["accuracy"])
    >>> trainer.fit(batches, epochs=300, shuffle=False,
    ...             callbacks=[EpochSeeder(batches), *trainer.epoch_callbacks()])
    >>> top_confusion_pairs(cpmix.confusion, k=10)  # the most frequent training confusions
    """

    name = "cpmix"
    needs_training_set = "CP-Mix draws partner images from the training set"

    def __init__(self, alpha=1.0, rho=0.5, eta=1.0, mix_batch_size=None, lam_per_sample=True, start_epoch=None):
        self.alpha = check_alpha(alpha)
        self.rho = float(rho)
        self.eta = float(eta)
        self.mix_batch_size = mix_batch_size
        self.lam_per_sample = bool(lam_per_sample)
        self.start_epoch = start_epoch
        self.active = False  # set by CPMixStage
        self.confusion = None  # built with the trainer

    def build(self, trainer):
        num_classes = trainer.network.output_shape[-1]
        self.confusion = trainer.add_weight(
            shape=(num_classes, num_classes), initializer="zeros", trainable=False, name="confusion"
        )

    def epoch_callbacks(self, trainer):
        return [] if self.start_epoch is None else [CPMixStage(self, self.start_epoch)]

    @property
    def num_classes(self):
        return self.confusion.shape[0]

    def loss(self, trainer, x, y, logits, outputs):
        """Counts the step's confusions; from `start_epoch` on, `eta` times the two mixup terms (else None)."""
        with torch.no_grad():
            true, predicted = self._confusions(y, torch.argmax(logits, -1), outputs.get(MIXED))
            self.confusion.assign_add(all_reduce_sum(confusion_counts(true, predicted, self.num_classes)))
        return self.eta * self.mixing_loss(trainer, x, y) if self.active else None

    @staticmethod
    def _confusions(y, predicted, mixed):
        """`(true, predicted)` to count: of a step the mixer mixed, only the images predicted as neither of their labels.

        Our reading where a mixer (mixup, CMO) mixes the batch: a mixed image has no one true label,
        and a prediction of either of its labels is no confusion. One predicted as a third class
        counts against its dominant label (the one of weight >= 1/2); the others count nothing (their
        prediction is passed as their label).
        """
        if mixed is None:
            return y, predicted
        second, lam = mixed
        dominant = torch.where(lam >= 0.5, y, second)
        neither = (predicted != y) & (predicted != second)
        return dominant, torch.where(neither, predicted, dominant)

    def mixing_loss(self, trainer, x, y):
        """`CE(CP-mixed batch) + CE(mixup of the batch)`, drawn from the current step's generators."""
        generator, rng = trainer.step_generators(CPMIX_STREAM)
        sampler = trainer.batches.class_sampler
        size = self.mix_batch_size or len(y)
        anchors, partners = (  # none on a rank with an empty shard, whose forward passes still meet the others'
            sample_confusion_pairs(self.confusion.value, sampler.class_counts, size, generator) if size else (y, y)
        )
        images_i, images_j = self._images_of(trainer, anchors, generator), self._images_of(trainer, partners, generator)
        permutation = torch.randperm(len(y), device=y.device, generator=generator)
        return self._mixup_loss(trainer, images_i, images_j, anchors, partners, rng) + self._mixup_loss(
            trainer, x, x[permutation], y, y[permutation], rng
        )

    def _images_of(self, trainer, classes, generator):
        """One training image of each class in `classes`, augmented as the batches are."""
        batches = trainer.batches
        return batches.images_at(batches.class_sampler.sample_classes(classes, generator), generator)

    def _mixup_loss(self, trainer, images_i, images_j, labels_i, labels_j, rng):
        """Soft-label CE of the network on the imbalance-aware mixup of two aligned batches.

        On a cosine classifier trained with a scaled loss (LDAM, KPS: `loss.scale`), the CE sees the
        cosines times that scale, the logits the published model outputs (`keras_lt.training.finish`):
        on the bare cosines in [-1, 1] its softmax stays near uniform and its gradient never fades.
        """
        lam = beta_lam(rng, self.alpha, len(labels_i), self.lam_per_sample, labels_i.device)
        counts = trainer.batches.class_sampler.class_counts
        lam_y = label_weight(lam, counts[labels_i], counts[labels_j], self.rho)
        images, soft_labels = mix(images_i, images_j, labels_i, labels_j, lam, lam_y, self.num_classes)
        logits = trainer(images, training=True)
        scale = getattr(trainer.loss, "scale", None)  # a cosine head's loss (LDAM, KPS) scales its cosines
        if scale is not None:
            logits = scale * logits
        return keras.ops.mean(keras.ops.categorical_crossentropy(soft_labels, logits, from_logits=True))

    def write_summary(self, output_dir, class_names):
        """Writes Q and its `SUMMARY_PAIRS` top pairs to `training_confusion.json` in `output_dir`."""
        matrix = keras.ops.convert_to_numpy(self.confusion).astype("int64")
        pairs = top_confusion_pairs(matrix, SUMMARY_PAIRS, class_names)
        with open(os.path.join(output_dir, SUMMARY_FILE), "w") as f:
            json.dump({"top_pairs": pairs, "matrix": matrix.tolist()}, f, indent=2)

    def get_config(self):
        return {
            "alpha": self.alpha,
            "rho": self.rho,
            "eta": self.eta,
            "mix_batch_size": self.mix_batch_size,
            "lam_per_sample": self.lam_per_sample,
            "start_epoch": self.start_epoch,
        }
